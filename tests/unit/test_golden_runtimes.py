"""Every worker runtime's own test runs over contracts/golden/ (and the schemas), from here.

A contract change (`make contracts`) thus breaks the Go, Java, Node.js, Python (confluent-kafka)
and kcat tests at once: each SDK checks that its typed command and result know exactly the
schema's properties and that it answers the golden command like the golden results. A folder
under examples/workers without a golden test registered here fails
`test_every_runtime_folder_has_a_golden_test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ROOT / "examples" / "workers"


@dataclass(frozen=True)
class Runtime:
    argv: tuple[str, ...]
    test_file: str  # relative to the runtime's folder: the test over the golden files
    tools: tuple[str, ...]
    ready: str | None = None  # a path (relative to the folder) that `make install` creates
    timeout: float = 300


RUNTIMES = {
    "go": Runtime(("go", "test", "-count=1", "./..."), "wfworker/golden_test.go", ("go",)),
    "java": Runtime(
        ("mvn", "-q", "-B", "test"),
        "src/test/java/dev/workflows/worker/GoldenTest.java",
        ("mvn", "java"),
        timeout=600,
    ),
    "node": Runtime(
        ("node", "--test", "test/"), "test/golden.test.js", ("node",), ready="node_modules/ajv"
    ),
    "python": Runtime(
        (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_golden.py"),
        "test_golden.py",
        (),
    ),
    "kcat": Runtime(("bash", "test.sh"), "test.sh", ("bash", "jq")),
}


def runtime_folders() -> list[str]:
    return sorted(
        p.name
        for p in WORKERS.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name != "__pycache__"
    )


def test_every_runtime_folder_has_a_golden_test() -> None:
    missing = sorted(set(runtime_folders()) - set(RUNTIMES))
    assert not missing, f"examples/workers/{missing} have no golden test registered in RUNTIMES"
    for name, runtime in RUNTIMES.items():
        test_file = WORKERS / name / runtime.test_file
        assert test_file.is_file(), f"examples/workers/{name}: no {runtime.test_file}"
        text = test_file.read_text(encoding="utf-8")
        assert "golden" in text and "cases.json" in text, (
            f"{test_file} does not read the golden cases"
        )


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(RUNTIMES))
def test_runtime_passes_its_golden_test(name: str) -> None:
    runtime = RUNTIMES[name]
    folder = WORKERS / name
    if missing := [tool for tool in runtime.tools if shutil.which(tool) is None]:
        pytest.skip(f"needs {', '.join(missing)}")
    if runtime.ready and not (folder / runtime.ready).exists():
        pytest.skip(f"run `make install` first ({runtime.ready} is missing)")
    env = {**os.environ, "WORKFLOWS_CONTRACTS_DIR": str(ROOT / "contracts")}
    proc = subprocess.run(
        runtime.argv,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=runtime.timeout,
        check=False,
    )
    output = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"{' '.join(runtime.argv)} failed in {folder}:\n{output}"
