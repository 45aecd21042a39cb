"""The `workflows` CLI: validate, eval, simulate, schema — the commands the README shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workflows.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "customer_onboarding.yaml"
PRO = '{"customerId":"c1","plan":"professional","industry":"healthcare","companySize":"medium"}'
ACCOUNT = 'accountSetup={"customerEmail":"a@b.c","companyName":"Acme","accountUrl":"https://acme"}'
PLAN = (
    'createSuccessPlan={"onboardingStatus":"completed","nextSteps":["a"],"estimatedTimeToValue":3}'
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_validate_accepts_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "validate", str(EXAMPLE), str(ROOT / "examples" / "customer_onboarding.py")
    )
    assert code == 0
    assert out.count(": ok (customerOnboardingWorkflow, 6 steps)") == 2


def test_validate_names_the_step_path_and_column_of_a_broken_condition(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace('plan === "enterprise"', 'plan = "enterprise"'))
    code, out, _ = run(capsys, "validate", str(broken))
    assert code == 1
    assert "steps[3].condition: column 14: unexpected token '='" in out


def test_eval_the_seed_condition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "eval",
        '{{input.plan === "enterprise" || input.companySize === "enterprise"}}',
        "--context",
        '{"input":{"plan":"starter","companySize":"enterprise"}}',
    )
    assert (code, out.strip()) == (0, "true")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ('constructor.constructor("return 1")()', "member 'constructor' is not allowed"),
        ('__import__("os")', "names starting with '__' are refused"),
    ],
)
def test_eval_refuses_escapes(capsys: pytest.CaptureFixture[str], expr: str, message: str) -> None:
    code, out, err = run(capsys, "eval", expr, "--context", "{}")
    assert code == 1 and out == ""
    assert "error: column" in err and message in err


def test_eval_interpolates_and_keeps_types(capsys: pytest.CaptureFixture[str]) -> None:
    ctx = '{"input":{"name":"Ada","n":[1,2]}}'
    assert run(capsys, "eval", "Hello {{input.name}}", "--context", ctx)[1].strip() == '"Hello Ada"'
    assert run(capsys, "eval", "{{input.n}}", "--context", ctx)[1].strip() == "[1, 2]"
    assert run(capsys, "eval", "input.n.length + 1", "--context", ctx)[1].strip() == "3"


def test_simulate_professional_skips_the_enterprise_steps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "simulate", str(EXAMPLE), "--input", PRO, "--mock", ACCOUNT, "--mock", PLAN
    )
    assert code == 0
    assert "skipped assignAccountManager (condition" in out
    assert "skipped scheduleKickoff (condition {{!!assignAccountManager}} was false)" in out
    assert "status: completed" in out


def test_simulate_enterprise_runs_them_and_shows_retries_and_fallback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ent = PRO.replace("professional", "enterprise")
    code, out, _ = run(
        capsys,
        "simulate",
        str(EXAMPLE),
        "--input",
        ent,
        "--mock",
        ACCOUNT,
        "--mock",
        PLAN,
        "--fail",
        "scheduleKickoff",
    )
    assert code == 0
    assert "ran     assignAccountManager -> assignAccountManager" in out
    assert "next in 1000 ms" in out and "next in 2000 ms" in out
    assert "fallback scheduleKickoff -> sendSchedulingLink" in out
    assert "skipped" not in out


def test_schema_points_at_the_contracts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0 and "step-command.schema.json" in out and "asyncapi.yaml" in out


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "workflows"
    done = subprocess.run(
        [str(exe), "validate", str(EXAMPLE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
