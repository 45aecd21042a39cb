"""`workflows simulate` prints the priority of the execution it simulates (issue 17 item 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workflows.cli import main

LINE = (
    "when a function's concurrency is full, commands of this execution are dispatched ahead of"
    " lower-priority ones"
)


def run(*argv: str, capsys: Any) -> list[str]:
    with pytest.raises(SystemExit) as done:
        main(["simulate", *argv])
    assert done.value.code == 0
    return str(capsys.readouterr().out).splitlines()


def test_the_option_wins_and_is_named(capsys: Any) -> None:
    out = run("tests/definitions/trigger_event.yaml", "--priority", "7", capsys=capsys)
    assert out[0] == f"priority 7 (from --priority): {LINE}"


def test_the_definitions_priority(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text("name: wf\npriority: -3\nsteps:\n  - id: a\n    function: f\n")
    assert run(str(path), capsys=capsys)[0] == f"priority -3 (from the definition): {LINE}"


def test_no_priority_no_line(capsys: Any) -> None:
    out = run("tests/definitions/trigger_event.yaml", capsys=capsys)
    assert not any(line.startswith("priority") for line in out)


def test_out_of_range_is_refused() -> None:
    with pytest.raises(SystemExit, match="--priority must be between -1000 and 1000"):
        main(["simulate", "tests/definitions/trigger_event.yaml", "--priority", "5000"])
