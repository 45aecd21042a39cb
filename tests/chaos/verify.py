"""What the chaos suite checks once every execution is final; pure functions over Redis data.

- `expected_outcome()`: how an execution must end, derived from the deterministic failures
  of `chaos_functions` (which attempt of which step fails, when the fallback runs).
- `check_execution()`: one execution's state document against its audit trail and the
  expectation: duplicates applied, audit inconsistencies, wrong outcome.
- `check_effects()`: each successful attempt's side effect happened exactly once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.plan import TRANSIENT_RATE, draw, kickoff_refused

__all__ = [
    "EffectReport",
    "ExecutionCheck",
    "check_effects",
    "check_execution",
    "expected_outcome",
]

MAX_ATTEMPTS = 3  # errorHandling.retryStrategy.maxAttempts of customer_onboarding.yaml
TERMINAL_EVENTS = {
    "execution.completed",
    "execution.failed",
    "execution.cancelled",
    "execution.timed_out",
}
OUTCOMES = {"step.succeeded", "step.retrying", "step.failed"}


def _transient(execution_id: str, step_id: str, attempt: int) -> bool:
    return draw(f"{execution_id}:{step_id}:{attempt}", "transient") < TRANSIENT_RATE


def _first_success(execution_id: str, step_id: str, first: int) -> int | None:
    """The first attempt in first..first+2 that does not fail transiently (None: exhausted)."""
    for attempt in range(first, first + MAX_ATTEMPTS):
        if not _transient(execution_id, step_id, attempt):
            return attempt
    return None


def expected_outcome(execution_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """{"status": ..., "steps": {step: (status, attempt, fallback)}, "exhausted": [steps]}.

    A step that exhausts its attempts fails the execution whatever else happens, so the
    status is `failed` iff some step that runs exhausts; the per-step expectation is only
    meaningful (and only compared) for completed executions.
    """
    steps: dict[str, tuple[str, int, bool]] = {}
    exhausted: list[str] = []

    def plain(step_id: str) -> bool:
        attempt = _first_success(execution_id, step_id, 1)
        if attempt is None:
            exhausted.append(step_id)
            return False
        steps[step_id] = ("succeeded", attempt, False)
        return True

    account = plain("accountSetup")
    if account:
        plain("welcomeEmail")
    plain("resourceAllocation")
    plain("createSuccessPlan")
    enterprise = data.get("plan") == "enterprise" or data.get("companySize") == "enterprise"
    if not enterprise:
        steps["assignAccountManager"] = ("skipped", 0, False)
        steps["scheduleKickoff"] = ("skipped", 0, False)
    elif plain("assignAccountManager") and account:
        first = _first_success(execution_id, "scheduleKickoff", 1)
        if first is not None and not kickoff_refused(str(data["customerId"])):
            steps["scheduleKickoff"] = ("succeeded", first, False)
        else:
            # refused at the first non-transient attempt, or exhausted after three
            fallback_from = first if first is not None else MAX_ATTEMPTS
            attempt = _first_success(execution_id, "scheduleKickoff", fallback_from + 1)
            if attempt is None:
                exhausted.append("scheduleKickoff")
            else:
                steps["scheduleKickoff"] = ("succeeded", attempt, True)
    status = "failed" if exhausted else "completed"
    return {"status": status, "steps": steps, "exhausted": exhausted}


@dataclass
class ExecutionCheck:
    execution_id: str
    status: str
    duplicates: list[str] = field(default_factory=list)  # a result/outcome applied twice
    audit: list[str] = field(default_factory=list)  # other audit-trail inconsistencies
    wrong: list[str] = field(default_factory=list)  # differs from the expected outcome
    succeeded: dict[str, int] = field(default_factory=dict)  # step -> its successful attempt


def check_execution(doc: dict[str, Any]) -> ExecutionCheck:
    eid = doc["executionId"]
    check = ExecutionCheck(eid, doc["status"])
    history: list[dict[str, Any]] = doc.get("history", [])
    _check_sequence(history, check)
    _check_steps(doc, history, check)
    _check_expected(doc, check)
    return check


def _check_sequence(history: list[dict[str, Any]], check: ExecutionCheck) -> None:
    seqs = [entry["seq"] for entry in history]
    if seqs != list(range(1, len(history) + 1)):
        check.audit.append(f"history seq is not 1..{len(history)}: {seqs[:12]}...")
    if not history or history[0]["type"] != "execution.started":
        check.audit.append("the audit trail does not start with execution.started")
    starts = sum(1 for e in history if e["type"] == "execution.started")
    if starts > 1:
        check.duplicates.append(f"execution.started {starts} times")
    terminal = [i for i, e in enumerate(history) if e["type"] in TERMINAL_EVENTS]
    if len(terminal) > 1:
        check.duplicates.append(f"{len(terminal)} terminal events")
    if not terminal or terminal[-1] != len(history) - 1:
        check.audit.append("the audit trail does not end with its terminal event")
    elif history[-1]["type"] != f"execution.{check.status}":
        check.audit.append(f"ends with {history[-1]['type']} but the status is {check.status}")


def _check_steps(doc: dict[str, Any], history: list[dict[str, Any]], check: ExecutionCheck) -> None:
    started: Counter[tuple[str, int]] = Counter()
    outcomes: Counter[tuple[str, int]] = Counter()
    succeeded: dict[str, list[int]] = defaultdict(list)
    attempts: dict[str, list[int]] = defaultdict(list)
    for entry in history:
        step, attempt, kind = entry.get("stepId"), entry.get("attempt"), entry["type"]
        if step is None or attempt is None:
            continue
        key = (step, attempt)
        if kind == "step.started":
            started[key] += 1
            attempts[step].append(attempt)
        elif kind in OUTCOMES:
            if started[key] == 0:
                check.audit.append(f"{kind} of {step}#{attempt} before its step.started")
            outcomes[key] += 1
            if kind == "step.succeeded":
                succeeded[step].append(attempt)
    for key, count in started.items():
        if count > 1:
            check.duplicates.append(f"step.started {key[0]}#{key[1]} {count} times")
    for key, count in outcomes.items():
        if count > 1:
            check.duplicates.append(f"{count} outcomes for {key[0]}#{key[1]}")
    for step, numbers in succeeded.items():
        if len(numbers) > 1:
            check.duplicates.append(f"{step} succeeded {len(numbers)} times: {numbers}")
    for step, numbers in attempts.items():
        if numbers != list(range(1, len(numbers) + 1)):
            check.audit.append(f"{step} attempts are {numbers}, not 1..{len(numbers)}")
    for step, run in doc.get("steps", {}).items():
        if run["status"] == "succeeded":
            if succeeded.get(step) != [run["attempt"]]:
                check.audit.append(
                    f"{step} is succeeded at attempt {run['attempt']} but the audit trail "
                    f"has step.succeeded for {succeeded.get(step)}"
                )
            check.succeeded[step] = run["attempt"]
        elif step in succeeded:
            check.audit.append(f"{step} is {run['status']} but the audit trail says succeeded")


def _check_expected(doc: dict[str, Any], check: ExecutionCheck) -> None:
    expected = expected_outcome(check.execution_id, doc.get("input", {}))
    if doc["status"] != expected["status"]:
        check.wrong.append(f"status {doc['status']}, expected {expected['status']}")
        return
    if doc["status"] == "failed":
        failed_step = (doc.get("error") or {}).get("stepId")
        if failed_step not in expected["exhausted"]:
            check.wrong.append(f"failed at {failed_step}, expected one of {expected['exhausted']}")
        return
    for step, (status, attempt, fallback) in expected["steps"].items():
        run = doc["steps"].get(step, {})
        got = (run.get("status"), run.get("attempt", 0), run.get("fallback", False))
        if status == "skipped":
            got = (got[0], 0, False)
        if got != (status, attempt, fallback):
            check.wrong.append(f"{step}: {got}, expected {(status, attempt, fallback)}")


@dataclass
class EffectReport:
    successful_attempts: int = 0
    exactly_once: int = 0
    missing: list[str] = field(default_factory=list)  # a success whose side effect never ran
    rerun_after_kill: list[str] = field(default_factory=list)  # first runner was kill -9ed
    rerun_unexplained: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # completed executions' unused effects


def check_effects(
    checks: list[ExecutionCheck],
    effects: dict[str, int],
    effect_pids: dict[str, list[int]],
    killed_pids: set[int],
) -> EffectReport:
    """Each successful attempt's key must have count 1; classify the others."""
    report = EffectReport()
    wanted: set[str] = set()
    for check in checks:
        for step, attempt in check.succeeded.items():
            key = f"{check.execution_id}:{step}:{attempt}"
            wanted.add(key)
            report.successful_attempts += 1
            count = effects.get(key, 0)
            if count == 1:
                report.exactly_once += 1
            elif count == 0:
                report.missing.append(key)
            else:
                # Run twice: legitimate only if an earlier runner died (kill -9) between the
                # side effect and storing the result in the results cache.
                pids = effect_pids.get(key, [])
                if pids and all(pid in killed_pids for pid in pids[:-1]):
                    report.rerun_after_kill.append(f"{key} x{count} pids={pids}")
                else:
                    report.rerun_unexplained.append(f"{key} x{count} pids={pids}")
    completed = {c.execution_id for c in checks if c.status == "completed"}
    for key in effects:
        if key not in wanted and key.split(":", 1)[0] in completed:
            report.orphans.append(key)
    return report
