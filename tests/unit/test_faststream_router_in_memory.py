"""The Python worker as a FastStream router (issue 21 item 5), in memory with FastStream's
TestKafkaBroker: how a user tests their function; the real broker is in
tests/integration/test_faststream_worker.py."""

from __future__ import annotations

import json
from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from workflows import FunctionContext, FunctionRegistry, RetryableError, function
from workflows.contracts import StepCommand, encode
from workflows.faststream_worker import WorkerRouter
from workflows.services.infra.settings import Settings

functions = FunctionRegistry()


class Greeting(BaseModel):
    name: str


@function("greet", registry=functions)
def greet(data: Greeting, ctx: FunctionContext) -> dict[str, str]:
    """Say hello to a customer."""
    if data.name == "busy":
        raise RetryableError("try later", type="Busy")
    return {"greeting": f"hello {data.name}", "key": ctx.idempotency_key}


def _command(name: str) -> StepCommand:
    return StepCommand(
        execution_id="e1",
        command_id="e1:hello:1",
        workflow="w",
        workflow_version=1,
        step_id="hello",
        function="greet",
        input={"name": name},
        attempt=1,
        idempotency_key="e1:hello",
    )


def _app(prefix: str = "") -> tuple[KafkaBroker, WorkerRouter]:
    broker = KafkaBroker("127.0.0.1:9092")  # never dialled under TestKafkaBroker
    router = WorkerRouter(functions, settings=Settings(topic_prefix=prefix), worker_id="w-1")
    broker.include_router(router)
    return broker, router


def _sent(publisher: Any) -> list[dict[str, Any]]:
    assert publisher.mock is not None
    return [call.args[0] for call in publisher.mock.call_args_list]


async def test_a_users_function_answers_its_command_in_memory() -> None:
    broker, router = _app("acme.")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(encode(_command("ann")), topic="acme.wf.fn.greet", key=b"e1")
        await test_broker.publish(encode(_command("busy")), topic="acme.wf.fn.greet", key=b"e1")
        ok, failed = _sent(router.results)
    assert ok["ok"] is True and ok["output"] == {"greeting": "hello ann", "key": "e1:hello"}
    assert (ok["executionId"], ok["commandId"], ok["workerId"]) == ("e1", "e1:hello:1", "w-1")
    assert failed["ok"] is False
    error = failed["error"]
    assert (error["type"], error["message"], error["retryable"]) == ("Busy", "try later", True)


async def test_a_command_that_is_not_one_goes_to_the_dlq() -> None:
    broker, router = _app()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b'{"executionId": "e9", "bad"', topic="wf.fn.greet")
        await test_broker.publish(json.dumps({"executionId": "e9"}), topic="wf.fn.greet")
        letters = _sent(router.dead_letters)
        assert _sent(router.results) == []
    assert [letter["sourceTopic"] for letter in letters] == ["wf.fn.greet", "wf.fn.greet"]
    assert letters[0]["reason"].startswith("invalid JSON")
    assert "commandId" in letters[1]["reason"] and letters[1]["executionId"] == "e9"


def test_its_topics_are_in_the_asyncapi_document_faststream_generates() -> None:
    broker, _ = _app("acme.")
    spec = AsyncAPI(broker, title="my app", schema_version="3.0.0").to_specification()
    document = spec.to_jsonable()
    channels = document["channels"]
    assert set(channels) >= {"wf.fn.greet", "wf.steps.results", "wf.dlq"}
    assert channels["wf.fn.greet"]["address"] == "acme.wf.fn.greet"
    assert "Say hello to a customer" in channels["wf.fn.greet"]["description"]
    assert channels["wf.steps.results"]["address"] == "acme.wf.steps.results"
    assert document["operations"]["wf.fn.greet"]["action"] == "receive"
    assert document["operations"]["wf.steps.results"]["action"] == "send"
    schemas = document["components"]["schemas"]
    assert "commandId" in schemas["StepCommand"]["properties"]
    assert "ok" in schemas["StepResult"]["properties"]
