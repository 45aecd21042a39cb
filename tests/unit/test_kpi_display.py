"""KPIs shown to people: with their units in `workflows simulate` (and `make demo`)."""

from __future__ import annotations

import json

import pytest

from workflows.cli import main
from workflows.services.core.kpis import format_kpi, kpi_lines
from workflows.testing.embedded import repo_root

SEED = str(repo_root() / "examples" / "customer_onboarding.yaml")
CUSTOMER = {"customerId": "c1", "plan": "professional", "industry": "x", "companySize": "medium"}


def test_a_kpi_reads_with_its_unit() -> None:
    assert format_kpi(50.0, "percent") == "50 %"
    assert format_kpi(37.5, "minutes") == "37.5 minutes"
    assert format_kpi(0.123456, None) == "0.1235"


def test_kpi_lines_show_values_with_units_and_why_one_is_missing() -> None:
    lines = kpi_lines({"rate": 100.0}, {"wait": "step 'b' did not succeed"}, {"rate": "percent"})
    assert lines == ["    rate  100 %", "    wait  - (step 'b' did not succeed)"]


def test_simulate_prints_the_kpis_with_their_units(capsys: pytest.CaptureFixture[str]) -> None:
    mocks = {
        "accountSetup": {"customerEmail": "a@b.c", "_kpis": {"timeToFirstLogin": 45}},
        "createSuccessPlan": {"estimatedTimeToValue": 12},
    }
    argv = ["simulate", SEED, "--input", json.dumps(CUSTOMER)]
    for step, output in mocks.items():
        argv += ["--mock", f"{step}={json.dumps(output)}"]
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr().out.splitlines()
    kpis = out[out.index("kpis:") + 1 :]
    assert [line.split() for line in kpis] == [
        ["timeToFirstLogin", "45", "minutes"],
        ["onboardingCompletionRate", "0", "%"],  # the mocks miss required output: failed
        ["timeToValue", "12", "days"],
    ]
