"""The README runs as written (issue 21 item 10).

Every ```bash or ```python block of README.md that follows a `<!-- runnable -->` line is run,
in the README's order, from the project folder against one `workflows dev --ephemeral` (Tansu,
the seed's functions): bash with `-euo pipefail`, Python with the venv's interpreter. The one
liberty taken is the port: `localhost:8000` / `127.0.0.1:8000` become the dev server's own, so
the test runs beside anything else on the machine. A comment line under a command that shows
its output (`# [+ ...`, `# status: ...`, `# ... skipped ...`) must appear in what it printed,
its `...` standing for anything.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from workflows.client import Workflows
from workflows.testing.embedded import free_port, repo_root

pytestmark = pytest.mark.e2e
README = repo_root() / "README.md"
MARK = "<!-- runnable -->"
EXE = str(Path(sys.executable).parent / "workflows")
FUNCTIONS = "examples.onboarding_functions"
OUTPUT_LINE = re.compile(r"^# (\[\+|status:|\.\.\. )")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    code: str

    def expected_output(self) -> list[list[str]]:
        """Each output comment line as its fragments between `...`."""
        out = []
        for text in self.code.splitlines():
            if OUTPUT_LINE.match(text):
                fragments = [f.strip() for f in text[2:].split("...")]
                out.append([f for f in fragments if f])
        return out


def runnable_blocks(text: str) -> list[Block]:
    """The blocks marked runnable; a mark not followed by a bash/python fence is an error."""
    lines = text.splitlines()
    blocks = []
    for index, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        fence = lines[index + 1] if index + 1 < len(lines) else ""
        lang = fence.removeprefix("```")
        assert fence.startswith("```") and lang in ("bash", "python"), (
            f"README.md line {index + 1}: {MARK} must come right before a ```bash or ```python"
        )
        end = next(j for j in range(index + 2, len(lines)) if lines[j].startswith("```"))
        blocks.append(Block(index + 2, lang, "\n".join(lines[index + 2 : end]) + "\n"))
    return blocks


def test_the_readme_fences_are_balanced_and_marks_are_placed() -> None:
    text = README.read_text()
    fences = [line for line in text.splitlines() if line.lstrip().startswith("```")]
    opened = False
    for fence in fences:
        bare = fence.strip()
        if opened:
            assert bare == "```", f"a fence opened and not closed before {fence!r}"
        opened = not opened
    assert not opened, "the README ends inside a code block"
    assert len(runnable_blocks(text)) >= 10


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str]]]:
    home = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    env["XDG_DATA_HOME"] = str(home)
    port = free_port()
    log = (home / "dev.log").open("wb")
    proc = subprocess.Popen(
        [EXE, "dev", "--ephemeral", "--port", str(port), "--functions", FUNCTIONS],
        cwd=repo_root(),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with Workflows(url, timeout=30) as wf:
            wf.wait_ready(90)
        yield port, {**env, "WORKFLOWS_API_URL": url, "PATH": f".venv/bin:{env['PATH']}"}
    finally:
        proc.terminate()
        proc.wait(40)


def _run(block: Block, port: int, env: dict[str, str]) -> str:
    code = re.sub(r"\b(localhost|127\.0\.0\.1):8000\b", f"127.0.0.1:{port}", block.code)
    argv = ["bash", "-euo", "pipefail", "-c", code] if block.lang == "bash" else None
    argv = argv or [sys.executable, "-c", code]
    done = subprocess.run(
        argv, cwd=repo_root(), env=env, capture_output=True, text=True, timeout=180
    )
    where = f"README.md line {block.line} ({block.lang})"
    assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_every_runnable_block_runs(dev: tuple[int, dict[str, str]]) -> None:
    port, env = dev
    blocks = runnable_blocks(README.read_text())
    for block in blocks:
        printed = _run(block, port, env)
        for fragments in block.expected_output():
            at = 0
            for fragment in fragments:
                found = printed.find(fragment, at)
                assert found >= 0, f"README.md line {block.line}: {fragment!r} not in:\n{printed}"
                at = found + len(fragment)
    print(f"README: ran {len(blocks)} blocks")  # the count the issue asks for
