"""`workflows simulate OLD --migrate-to NEW --done ...` prints what registering NEW does."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.cli import main

DEFS = Path(__file__).resolve().parents[1] / "definitions"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", str(DEFS / "migration_v1.yaml"), *args])
    return int(exited.value.code or 0), capsys.readouterr().out


def test_resume_at_the_first_shared_step_not_run(capsys: pytest.CaptureFixture[str]) -> None:
    new = str(DEFS / "migration_v2.yaml")
    code, out = _run(capsys, "--migrate-to", new, "--done", "createAccount")
    assert code == 0
    assert out.strip() == (
        "migration resume-at-same-step: simulation (v1): resume at checkCredit on v2; "
        "keep createAccount; skip verifyIdentity"
    )
    code, out = _run(capsys, "--migrate-to", new, "--done", "createAccount,checkCredit")
    assert "resume at sendWelcome on v2; keep createAccount, checkCredit" in out


def test_misaligned_step_ids_are_refused_with_line_and_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    new = str(DEFS / "migration_v2_misordered.yaml")
    code, out = _run(capsys, "--migrate-to", new, "--done", "createAccount")
    assert code == 1
    assert "line 4: steps[0].id: column 9" in out and "do not line up with version 1" in out


def test_finish_current_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "--migrate-to", str(DEFS / "migration_v1.yaml"), "--done", "")
    assert code == 0
    assert out.strip() == "migration finish-current: simulation (v1): finish on v1"
