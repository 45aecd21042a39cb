"""CLI polish: tables for `list`/`status`, the `execute --wait` progress view, shell completion."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from typing import Any

import pytest

from workflows.cli import api, build_parser, main
from workflows.cli.render import (
    completion_script,
    executions_table,
    progress_line,
    status_view,
    table,
)
from workflows.client_errors import ExecutionTimeout

EXECUTIONS = [
    {
        "executionId": "e1",
        "workflow": "customerOnboardingWorkflow",
        "version": 2,
        "status": "completed",
        "createdAt": "2026-01-01T10:00:00Z",
        "finishedAt": "2026-01-01T10:00:02Z",
        "progress": {"done": 6, "total": 6, "currentSteps": []},
    },
    {
        "executionId": "e2",
        "workflow": "w",
        "version": 1,
        "status": "running",
        "createdAt": "2026-01-01T10:01:00Z",
        "progress": {"done": 1, "total": 3, "currentSteps": ["b"]},
    },
]
STATUS = {
    **EXECUTIONS[1],
    "currentSteps": ["b"],
    "steps": {
        "a": {"status": "succeeded", "attempt": 1, "function": "fa"},
        "b": {"status": "waiting_retry", "attempt": 2, "function": "fb", "error": {"message": "x"}},
    },
    "auditTrail": [{"seq": 1, "at": "t", "type": "execution.started", "data": {"k": 1}}],
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_table_aligns_columns_and_cuts_long_values() -> None:
    text = table(["id", "value"], [["a", None], ["bbbb", {"k": [1, 2]}], ["c", "x" * 100]])
    lines = text.splitlines()
    assert lines[0] == "ID    VALUE"
    assert lines[1] == "a     -"
    assert lines[2] == 'bbbb  {"k": [1, 2]}'
    assert lines[3].startswith("c     xxx") and lines[3].endswith("…") and len(lines[3]) == 66


def test_executions_table() -> None:
    lines = executions_table(EXECUTIONS).splitlines()
    assert lines[0].split() == [
        "EXECUTION",
        "WORKFLOW",
        "VERSION",
        "STATUS",
        "STEPS",
        "CREATED",
        "FINISHED",
    ]
    assert lines[1].split()[:5] == ["e1", "customerOnboardingWorkflow", "2", "completed", "6/6"]
    assert lines[2].split() == ["e2", "w", "1", "running", "1/3", "2026-01-01", "10:01:00", "-"]
    assert executions_table([]) == "no executions"


def test_status_view_has_facts_steps_and_audit_trail() -> None:
    text = status_view(STATUS)
    assert "status:     running" in text
    assert "steps done: 1/3" in text and "current:    b" in text
    step_b = next(line for line in text.splitlines() if line.startswith("b "))
    assert step_b.split() == ["b", "fb", "waiting_retry", "2", "-", "-", "x"]
    assert "audit trail:" in text and 'execution.started  -     -        -      {"k": 1}' in text


def test_progress_line() -> None:
    assert progress_line(STATUS, 1.25) == "e2  running  steps 1/3  current: b  1.2s"


class FakeWorkflows:
    """Stands in for the SDK client: no trigger service needed."""

    polls: list[dict[str, Any]] = []

    def __init__(self, url: str, timeout: float = 60.0, api_key: str | None = None) -> None:
        pass

    def __enter__(self) -> FakeWorkflows:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def list_executions(self, **kwargs: Any) -> list[dict[str, Any]]:
        return EXECUTIONS

    def get_status(self, execution_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.polls.pop(0) if self.polls else STATUS

    def start(
        self, name: str, data: Any, idempotency_key: str | None = None, priority: int | None = None
    ) -> str:
        return "e2"

    def execute(self, name: str, data: Any, **kwargs: Any) -> Any:
        return {"plain": True}

    def wait(self, execution_id: str, timeout: float = 30.0) -> dict[str, Any]:
        if timeout < 1:
            raise ExecutionTimeout(execution_id, "running", timeout)
        return {"executionId": execution_id, "status": "completed", "output": {"plain": True}}


def test_list_and_status_print_tables_unless_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "Workflows", FakeWorkflows)
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.startswith("EXECUTION") and "1/3" in out
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and json.loads(out) == EXECUTIONS
    code, out, _ = run(capsys, "status", "e2")
    assert code == 0 and "steps done: 1/3" in out
    code, out, _ = run(capsys, "status", "e2", "--json")
    assert code == 0 and json.loads(out) == STATUS


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_execute_wait_shows_progress_on_a_tty_and_plain_output_otherwise(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "Workflows", FakeWorkflows)
    monkeypatch.setattr(api.time, "sleep", lambda _s: None)
    code, out, err = run(capsys, "execute", "w", "--wait")
    assert code == 0 and json.loads(out) == {"plain": True} and err == "execution e2\n"
    code, out, err = run(capsys, "execute", "w", "--wait", "--timeout", "0.5")
    assert code == 1 and err.splitlines()[-1] == (
        "error: execution e2 is still running after waiting 0.5 s: follow it with "
        "`workflows status e2`, or wait longer with --timeout"
    )

    done = {**STATUS, "status": "completed", "output": {"ok": 1}, "currentSteps": []}
    done["progress"] = {"done": 3, "total": 3, "currentSteps": []}
    FakeWorkflows.polls = [STATUS, done]
    tty = Tty()
    monkeypatch.setattr(api.sys, "stderr", tty)
    code, out, _ = run(capsys, "execute", "w", "--wait")
    assert code == 0 and json.loads(out) == {"ok": 1}
    frames = tty.getvalue().split("\r")
    assert "steps 1/3  current: b" in frames[1]
    assert "completed  steps 3/3  current: -" in frames[2] and frames[2].endswith("\n")

    FakeWorkflows.polls = [{**done, "status": "failed", "error": {"message": "boom"}}]
    code, out, _ = run(capsys, "execute", "w", "--wait")
    assert code == 1 and out == ""  # the error goes to stderr (here the tty)
    assert tty.getvalue().splitlines()[-1].startswith("error: execution")


def test_completion_scripts_list_every_subcommand_and_its_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    bash = completion_script(parser, "bash")
    assert "complete -o default -F _workflows_complete workflows" in bash
    top = next(line for line in bash.splitlines() if line.strip().startswith('"")'))
    top_words = set(top.split('words="')[1].split('"')[0].split())
    assert {"execute", "status", "list", "templates", "completion", "validate"} <= top_words
    assert '"/templates/install") cmdpath=' in bash
    execute = next(
        line for line in bash.splitlines() if line.strip().startswith('"/execute") words=')
    )
    for option in ("--wait", "--input", "--timeout", "--url"):
        assert option in execute
    assert "--http-timeout" not in bash  # suppressed options are left out
    status = next(
        line for line in bash.splitlines() if line.strip().startswith('"/status") words=')
    )
    assert "--json" in status and "--audit" in status

    zsh = completion_script(parser, "zsh")
    assert zsh.startswith("#compdef workflows") and "compdef _workflows workflows" in zsh
    assert '"/list") candidates=(' in zsh

    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0 and out == bash
    with pytest.raises(SystemExit):
        main(["completion", "fish"])


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_bash_script_completes_subcommands_and_options() -> None:
    script = completion_script(build_parser(), "bash")
    probe = (
        script
        + "\nCOMP_WORDS=(workflows exe); COMP_CWORD=1; _workflows_complete;"
        + ' echo "${COMPREPLY[*]}"'
        + "\nCOMP_WORDS=(workflows templates list --t); COMP_CWORD=3; _workflows_complete;"
        + ' echo "${COMPREPLY[*]}"'
        + "\nCOMP_WORDS=(workflows execute myflow --w); COMP_CWORD=3; _workflows_complete;"
        + ' echo "${COMPREPLY[*]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["execute", "--tag", "--wait"]


def test_tables_show_short_timestamps_and_the_audit_trail_names_the_actor() -> None:
    status = {
        **STATUS,
        "steps": {"a": {"function": "f", "status": "succeeded",
                        "startedAt": "2026-01-01T10:01:00.123456+00:00"}},
        "auditTrail": [
            {"seq": 1, "at": "2026-01-01T10:01:00.123456+00:00", "type": "step.approval",
             "stepId": "a", "actor": {"kind": "user", "id": "ann"}},
        ],
    }  # fmt: skip
    text = status_view(status)
    assert "created:    2026-01-01 10:01:00\n" in text
    assert "10:01:00.123" in text and "10:01:00.123456" not in text
    assert "ACTOR" in text and "user:ann" in text
