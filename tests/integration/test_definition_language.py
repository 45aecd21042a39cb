"""The definition language (issue 17) through the real orchestrator and dispatcher on Kafka."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.runtime import Engine, running_engine
from workflows.errors import RetryableError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration


class Calls:
    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.errors: dict[str, list[Exception]] = {}  # function -> errors to raise, in order
        self.release = asyncio.Event()


def registry_for(calls: Calls) -> FunctionRegistry:
    registry = FunctionRegistry()

    def make(name: str) -> None:
        def fn(data: Any, ctx: FunctionContext) -> dict[str, Any]:
            calls.count[name] += 1
            pending = calls.errors.get(name)
            if pending:
                raise pending.pop(0)
            out = {"fn": name, "step": ctx.step_id, "input": data}
            if isinstance(data, dict) and "outcome" in data:
                out["outcome"] = data["outcome"]  # for `next: {outcome: stepId}`
            return out

        registry.register(fn, name)

    for name in ("work", "charge", "refund", "notify", "review", "ship", "alert"):
        make(name)

    async def hang(data: Any, ctx: FunctionContext) -> dict[str, Any]:
        calls.count["hang"] += 1
        await calls.release.wait()
        return {}

    registry.register(hang, "hang")
    return registry


@pytest.fixture
async def calls() -> Calls:
    return Calls()


@pytest.fixture
async def engine(settings: Settings, calls: Calls) -> AsyncIterator[Engine]:
    async with running_engine(settings, registry_for(calls)) as running:
        yield running
    calls.release.set()


async def test_fan_in_of_thirty_joins_once_after_every_branch(engine: Engine, calls: Calls) -> None:
    branches = [f"b{i}" for i in range(30)]
    steps: list[dict[str, Any]] = [{"id": "root", "function": "work"}]
    steps += [{"id": b, "function": "work", "dependsOn": ["root"]} for b in branches]
    steps.append(
        {
            "id": "join",
            "function": "notify",
            "dependsOn": branches,
            "input": {"last": "{{b29.step}}", "first": "{{b0.step}}"},
        }
    )
    await engine.register({"name": "fanIn30", "parallelism": "auto", "steps": steps})
    state = await engine.wait(await engine.start("fanIn30", {}))
    assert state.status.value == "completed", state.error
    assert calls.count["work"] == 31
    assert calls.count["notify"] == 1
    assert state.steps["join"].input == {"last": "b29", "first": "b0"}
    join_started = next(
        e.seq for e in state.history if e.type == "step.started" and e.step_id == "join"
    )
    for branch in branches:
        done = next(
            e.seq for e in state.history if e.type == "step.succeeded" and e.step_id == branch
        )
        assert done < join_started


async def test_durations_as_text_drive_backoff_and_timeouts(engine: Engine, calls: Calls) -> None:
    await engine.register(
        {
            "name": "durationsText",
            "timeout": "P1D",
            "steps": [
                {
                    "id": "charge",
                    "function": "charge",
                    "retry": {"maxAttempts": 2, "backoff": {"initialDelay": "250ms"}},
                },
                {"id": "stuck", "function": "hang", "timeout": "PT0.3S"},
            ],
        }
    )
    calls.errors["charge"] = [RetryableError("busy")]
    state = await engine.wait(await engine.start("durationsText", {}))
    assert state.status.value == "failed"
    assert state.error is not None and state.error["type"] == "StepTimeout"
    retrying = [e for e in state.history if e.type == "step.retrying"]
    assert [e.data["delayMs"] for e in retrying] == [250]
    started = [e.at for e in state.history if e.type == "step.started" and e.step_id == "charge"]
    assert (started[1] - started[0]).total_seconds() >= 0.25
    # the command's deadline is 300 ms after the start: the worker (or the orchestrator's
    # timer, whichever is first) ends the attempt then
    began = next(e.at for e in state.history if e.type == "step.started" and e.step_id == "stuck")
    ended = next(e.at for e in state.history if e.type == "step.failed" and e.step_id == "stuck")
    assert 0.3 <= (ended - began).total_seconds() < 5
    assert state.steps["stuck"].status.value == "failed"


class CardDeclined(Exception):
    """A plain exception: the SDK sends its class name as the error type."""


async def test_error_types_route_retries_and_catch(engine: Engine, calls: Calls) -> None:
    await engine.register(
        {
            "name": "errorClasses",
            "steps": [
                {
                    "id": "charge",
                    "function": "charge",
                    "retry": {
                        "maxAttempts": 4,
                        "retryOn": ["CardNetworkTimeout"],
                        "backoff": {"kind": "linear", "initialDelay": "100ms"},
                    },
                    "catch": [{"errors": ["CardDeclined"], "next": "declined"}],
                },
                {"id": "ship", "function": "ship"},
                {
                    "id": "declined",
                    "function": "alert",
                    "input": {"reason": "{{charge.error.type}}"},
                },
                {"id": "done", "function": "notify"},
            ],
        }
    )
    calls.errors["charge"] = [
        RetryableError("slow", type="CardNetworkTimeout"),
        RetryableError("slow", type="CardNetworkTimeout"),
        CardDeclined("insufficient funds"),
    ]
    state = await engine.wait(await engine.start("errorClasses", {}))
    assert state.status.value == "completed", state.error
    assert [e.data["delayMs"] for e in state.history if e.type == "step.retrying"] == [100, 200]
    assert state.steps["charge"].status.value == "caught"
    assert state.steps["charge"].error is not None
    assert state.steps["charge"].error["type"] == "CardDeclined"
    assert state.steps["ship"].status.value == "skipped"
    assert state.steps["declined"].input == {"reason": "CardDeclined"}
    assert state.steps["done"].status.value == "succeeded"
    assert (calls.count["charge"], calls.count["ship"], calls.count["alert"]) == (3, 0, 1)

    calls.errors["charge"] = []  # no error: the handler is skipped after ship
    state = await engine.wait(await engine.start("errorClasses", {}))
    assert state.status.value == "completed", state.error
    assert state.steps["declined"].status.value == "skipped"
    assert state.steps["ship"].status.value == "succeeded"


async def test_switch_next_is_final_and_the_map_format_on_the_broker(
    engine: Engine, calls: Calls
) -> None:
    await engine.register(
        {
            "name": "branchingRun",
            "input": {"type": "object", "properties": {"plan": {"type": "string"}}},
            "steps": [
                {
                    "id": "route",
                    "switch": {
                        "cases": [{"when": 'input.plan === "enterprise"', "next": "big"}],
                        "default": "small",
                    },
                },
                {"id": "big", "function": "review", "next": "join"},
                {"id": "small", "function": "work"},
                {"id": "join", "function": "notify", "input": {"big": "{{!!big}}"}},
                {"id": "after", "function": "alert"},
            ],
        }
    )
    state = await engine.wait(await engine.start("branchingRun", {"plan": "enterprise"}))
    assert state.status.value == "completed", state.error
    assert state.steps["small"].status.value == "skipped"
    assert state.steps["join"].input == {"big": True}
    assert (calls.count["review"], calls.count["work"], calls.count["notify"]) == (1, 0, 1)
    skipped = next(e for e in state.history if e.type == "step.skipped")
    assert skipped.data["reason"] == "'route' chose 'big'"

    await engine.register(
        {
            "name": "machineRun",
            "initialStep": "check",
            "steps": {
                "check": {
                    "function": "work",
                    "input": {"outcome": "{{input.verdict}}"},
                    "next": {"valid": "charge", "invalid": "reject"},
                },
                "reject": {"function": "refund"},
                "charge": {"function": "charge", "next": "ship"},
                "ship": {"function": "ship", "isFinal": True},
            },
        }
    )
    calls.count.clear()
    state = await engine.wait(await engine.start("machineRun", {"verdict": "valid"}))
    assert state.status.value == "completed", state.error
    assert [state.steps[s].status.value for s in ("check", "charge", "ship", "reject")] == [
        "succeeded",
        "succeeded",
        "succeeded",
        "skipped",
    ]
    assert calls.count["refund"] == 0
    calls.count.clear()
    state = await engine.wait(await engine.start("machineRun", {"verdict": "maybe"}))
    assert state.status.value == "failed"
    assert state.error is not None and state.error["type"] == "NoTransition"
    assert calls.count["charge"] == calls.count["refund"] == 0


async def test_a_loop_runs_its_group_again_on_the_broker(engine: Engine, calls: Calls) -> None:
    """`work` echoes its input: the loop's while reads the page number of this pass."""
    await engine.register(
        {
            "name": "loopRun",
            "steps": [
                {"id": "start", "function": "notify"},
                {
                    "id": "fetch",
                    "function": "work",
                    "input": {"page": "{{(fetch.input.page || 0) + 1}}"},
                },
                {
                    "id": "check",
                    "function": "review",
                    "input": {"page": "{{fetch.input.page}}"},
                    "loop": {"from": "fetch", "while": "check.input.page < 3", "maxIterations": 5},
                },
                {"id": "end", "function": "alert", "input": {"last": "{{check.input.page}}"}},
            ],
        }
    )
    state = await engine.wait(await engine.start("loopRun", {}))
    assert state.status.value == "completed", state.error
    assert (calls.count["work"], calls.count["review"], calls.count["alert"]) == (3, 3, 1)
    assert state.steps["end"].input == {"last": 3}
    assert [e.data["iteration"] for e in state.history if e.type == "loop.iteration"] == [1, 2]
    assert state.steps["fetch"].attempt == 3  # attempt numbers continue across iterations


async def test_templates_filters_and_list_helpers_on_the_broker(engine: Engine) -> None:
    """Item 6: steps.<id> alias, trigger, execution, now, filters and list helpers."""
    await engine.register(
        {
            "name": "templatesRun",
            "steps": [
                {"id": "order", "function": "work", "input": {"lines": "{{input.lines}}"}},
                {
                    "id": "summary",
                    "function": "notify",
                    "input": {
                        "total": "{{steps.order.input.lines | pluck: 'price' | sum}}",
                        "count": "{{count(order.input.lines)}}",
                        "skus": "{{sort(unique(pluck(order.input.lines, 'sku')))}}",
                        "allPaid": "{{all(pluck(order.input.lines, 'paid'))}}",
                        "anyPaid": "{{any(pluck(order.input.lines, 'paid'))}}",
                        "day": "{{ execution.startedAt | date: 'YYYY-MM-DD' }}",
                        "now": "{{now}}",
                        "id": "{{execution.id}}",
                        "by": "{{trigger.kind}}:{{trigger.id | default: 'none'}}",
                        "who": "{{input.name | upper}} / {{input.name | lower}}",
                        "note": "{{input.note | default: 'n/a'}}",
                        "raw": "{{order.input.lines[0] | json}}",
                        "loose": "{{input.qty == '2'}}",
                    },
                },
            ],
        }
    )
    lines = [
        {"sku": "b", "price": 2.5, "paid": True},
        {"sku": "a", "price": 4, "paid": False},
        {"sku": "b", "price": 1, "paid": True},
    ]
    execution_id = await engine.start("templatesRun", {"lines": lines, "name": "Ada", "qty": 2})
    state = await engine.wait(execution_id)
    assert state.status.value == "completed", state.error
    got = state.steps["summary"].input
    started = state.created_at.isoformat()
    assert got["total"] == 7.5
    assert got["count"] == 3
    assert got["skus"] == ["a", "b"]
    assert (got["allPaid"], got["anyPaid"]) == (False, True)
    assert got["day"] == started[:10]
    assert got["now"] >= started
    assert got["id"] == execution_id
    assert got["by"] == "api:none"
    assert got["who"] == "ADA / ada"
    assert got["note"] == "n/a"
    assert got["raw"] == '{"sku":"b","price":2.5,"paid":true}'
    assert got["loose"] is True  # JavaScript's ==: 2 == "2"


async def test_for_each_runs_items_with_retries_concurrency_and_tolerance(
    settings: Settings,
) -> None:
    """Item 1: per-item retries, maxConcurrency, toleratedFailures, outputs in item order."""
    registry = FunctionRegistry()
    running = {"now": 0, "peak": 0}
    attempts: Counter[str] = Counter()

    async def provision(data: Any, ctx: FunctionContext) -> dict[str, Any]:
        attempts[data["seat"]] += 1
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        try:
            await asyncio.sleep(0.02)
            if data["seat"] == "flaky" and ctx.attempt < 2:
                raise RetryableError("try again", type="Busy")
            if data["seat"] == "broken":
                raise RetryableError("never works", type="Broken")
            return {"user": f"{data['seat']}@{data['account']}", "n": data["n"], "try": ctx.attempt}
        finally:
            running["now"] -= 1

    registry.register(provision, "provision")
    registry.register(lambda data, ctx: {"seats": data["seats"]}, "load")
    registry.register(lambda data, ctx: data, "report")
    seats = ["ann", "flaky", "bob", "broken", "cy", "dee", "eve", "fay", "gus", "hal"]

    def definition(tolerated: int | str) -> dict[str, Any]:
        return {
            "name": f"seats{str(tolerated).rstrip('%')}",
            "steps": [
                {"id": "account", "function": "load", "input": {"seats": "{{input.seats}}"}},
                {
                    "id": "provision",
                    "function": "provision",
                    "forEach": "{{account.seats}}",
                    "input": {"seat": "{{item}}", "n": "{{index}}", "account": "acme"},
                    "maxConcurrency": 3,
                    "toleratedFailures": tolerated,
                    "retry": {
                        "maxAttempts": 2,
                        "backoff": {"kind": "fixed", "initialDelay": "10ms"},
                    },
                },
                {
                    "id": "summary",
                    "function": "report",
                    "input": {"users": "{{pluck(provision, 'user')}}", "n": "{{count(provision)}}"},
                },
            ],
        }

    async with running_engine(settings, registry) as engine:
        await engine.register(definition("10%"))
        await engine.register(definition(0))
        state = await engine.wait(await engine.start("seats10", {"seats": seats}))
        assert state.status.value == "completed", state.error
        users = state.steps["summary"].output["users"]
        assert users[:3] == ["ann@acme", "flaky@acme", "bob@acme"] and users[3] is None
        assert len(users) == 10 and users[9] == "hal@acme"  # item order, a tolerated gap
        assert state.steps["provision"].output[1] == {"user": "flaky@acme", "n": 1, "try": 2}
        assert attempts["flaky"] == 2 and attempts["broken"] == 2  # per-item retries
        assert running["peak"] == 3  # maxConcurrency
        assert state.steps["provision"].attempt == 1  # one command for the whole map
        failing = await engine.wait(await engine.start("seats0", {"seats": seats}))
    assert failing.status.value == "failed"
    error = failing.steps["provision"].error
    assert error is not None and error["type"] == "ForEachFailed"
    assert error["details"]["failedItems"] == [3] and "item 3: Broken" in error["message"]


async def test_a_10000_item_map_keeps_state_and_messages_small(settings: Settings) -> None:
    """Item 1: 10,000 items; the state document and every message stay small (by reference)."""
    registry = FunctionRegistry()
    registry.register(
        lambda data, ctx: {"items": [{"x": i, "name": f"user-{i:05}"} for i in range(data["n"])]},
        "seed",
    )
    registry.register(lambda data, ctx: {"double": data["x"] * 2}, "double")
    registry.register(lambda data, ctx: data, "total")
    sizes: dict[str, int] = {}
    async with running_engine(settings, registry) as engine:
        await engine.register(
            {
                "name": "bigMap",
                "steps": [
                    {"id": "source", "function": "seed", "input": {"n": "{{input.n}}"}},
                    {
                        "id": "map",
                        "function": "double",
                        "forEach": "{{source.items}}",
                        "input": {"x": "{{item.x}}"},
                        "maxConcurrency": 50,
                    },
                    {
                        "id": "sum",
                        "function": "total",
                        "input": {"sum": "{{sum(pluck(map, 'double'))}}", "n": "{{count(map)}}"},
                    },
                ],
            }
        )
        for n in (10, 10_000):
            execution_id = await engine.start("bigMap", {"n": n})
            state = await engine.wait(execution_id, timeout=120)
            assert state.status.value == "completed", state.error
            assert state.steps["sum"].output == {"sum": n * (n - 1), "n": n}
            doc = await engine.store.get_state(execution_id)
            assert doc is not None
            sizes[str(n)] = len(doc)
            if n == 10_000:  # the items, their inputs and the outputs all by reference
                assert "$claim" in str(state.steps["source"].output)
                assert "$claim" in str(state.steps["map"].output)
                assert "$claim" in str(state.steps["map"].input)
    assert sizes["10000"] < 2 * sizes["10"] + 2000, sizes  # not growing with the items


async def test_the_step_cache_reuses_an_output_per_key_and_marks_hits(
    settings: Settings,
) -> None:
    """Item 8: same function and key within ttl -> no call, a hit in the audit and the metric."""
    registry = FunctionRegistry()
    calls: Counter[str] = Counter()

    def score(data: Any, ctx: FunctionContext) -> dict[str, Any]:
        calls[data["customer"]] += 1
        return {"score": len(data["customer"]), "call": calls[data["customer"]]}

    registry.register(score, "creditScore")
    async with running_engine(settings, registry) as engine:
        await engine.register(
            {
                "name": "cached",
                "steps": [
                    {
                        "id": "score",
                        "function": "creditScore",
                        "input": {"customer": "{{input.customerId}}"},
                        "cache": {"key": "{{input.customerId}}", "ttl": "1h"},
                    }
                ],
            }
        )
        first = await engine.wait(await engine.start("cached", {"customerId": "ann"}))
        second = await engine.wait(await engine.start("cached", {"customerId": "ann"}))
        other = await engine.wait(await engine.start("cached", {"customerId": "bob"}))
    assert first.output == second.output == {"score": 3, "call": 1}
    assert other.output == {"score": 3, "call": 1}
    assert calls == Counter({"ann": 1, "bob": 1})  # the second ann run did not call it

    def call_of(state: Any) -> dict[str, Any]:
        [done] = [e for e in state.history if e.type == "step.succeeded"]
        return dict(done.data["call"])

    assert call_of(first) == {"cache": "miss", "key": "creditScore:ann"}
    assert call_of(second) == {"cache": "hit", "key": "creditScore:ann"}
    assert second.steps["score"].input == {"customer": "ann"}  # the plain input, no envelope


async def test_a_map_over_a_workers_function_fails_with_for_each_unsupported(
    engine: Engine,
) -> None:
    """forEach runs in the dispatcher; a function only an external worker has is refused."""
    await engine.register(
        {
            "name": "mapWorker",
            "steps": [
                {
                    "id": "m",
                    "function": "onlyInAWorker",
                    "forEach": "{{input.xs}}",
                    "input": "{{item}}",
                }
            ],
        }
    )
    state = await engine.wait(await engine.start("mapWorker", {"xs": [1, 2]}))
    assert state.status.value == "failed"
    error = state.steps["m"].error or {}
    assert error["type"] == "ForEachUnsupported" and "in-process or HTTP" in error["message"]
