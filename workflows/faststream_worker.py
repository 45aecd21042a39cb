"""The Python function worker as a FastStream router, for a user's own FastStream (or FastAPI) app.

    broker = KafkaBroker("127.0.0.1:9092")
    router = WorkerRouter()                    # every @function registered so far
    broker.include_router(router)
    app = FastStream(broker, on_startup=[router.create_topics])

One subscriber per registered function on `<prefix>wf.fn.<name>`, in the consumer group
`<prefix>wf-worker-<name>` (the group every SDK of docs/worker-protocol.md uses for that function),
and one publisher of `StepResult`s on `<prefix>wf.steps.results`, keyed by the execution id; both
appear in the AsyncAPI document FastStream generates (`faststream docs gen`, or
`AsyncAPI(broker).to_specification()`). The offset of a command is committed once its result is
published (FastStream's `AckPolicy.NACK_ON_ERROR`: a failed publish reads the command again). A
command that is not a StepCommand goes to `<prefix>wf.dlq` with the reason and is committed.

Unlike `workflows run worker`, the router keeps no results cache in Redis: a command delivered twice
runs the function twice (the protocol's at-least-once; a late duplicate result is ignored), so a
function with side effects uses `ctx.idempotency_key`. Inputs arrive inline (the dispatcher puts
claim-checked values back); keep outputs within the broker's message limit. Commands of one
function run one at a time per app (FastStream's default): run more replicas for more.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from faststream.exceptions import AckMessage
from faststream.kafka import KafkaMessage, KafkaResponse, KafkaRouter
from faststream.middlewares import AckPolicy

from workflows.contracts import StepCommand, StepResult, encode
from workflows.contracts.codec import decode
from workflows.contracts.dlq import DeadLetter, dead_letter
from workflows.contracts.errors import ContractError
from workflows.contracts.topics import Topics
from workflows.functions import FunctionRegistry, default_registry, run_function
from workflows.services.infra.settings import Settings

__all__ = ["WorkerRouter"]


class WorkerRouter(KafkaRouter):
    """Subscribers for the registry's functions and the results publisher, to include in a
    user's KafkaBroker. Settings (topic prefix, bootstrap, partitions) come from WORKFLOWS_*."""

    def __init__(
        self,
        registry: FunctionRegistry | None = None,
        *,
        settings: Settings | None = None,
        worker_id: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        super().__init__(include_in_schema=include_in_schema)
        self.registry = registry if registry is not None else default_registry
        self.settings = settings if settings is not None else Settings()
        self.worker_id = worker_id or f"faststream-{socket.gethostname()}-{os.getpid()}"
        self.topics = Topics.with_prefix(self.settings.topic_prefix)
        self.results = self.publisher(
            self.topics.step_results,
            title="wf.steps.results",
            description="The outcome of one step attempt, keyed by the execution id.",
            schema=StepResult,
        )
        self.dead_letters = self.publisher(
            self.topics.dlq,
            title="wf.dlq",
            description="Commands that are not a StepCommand, with the reason.",
            schema=DeadLetter,
        )
        for name in self.registry.names():
            self._serve(name)

    @property
    def function_topics(self) -> list[str]:
        return [self.topics.function(name) for name in self.registry.names()]

    async def create_topics(self) -> None:
        """Create the functions' topics and the results and DLQ topics if missing (an app's
        `on_startup` hook): a consumer subscribed to a topic that does not exist yet sees it
        only at its next metadata refresh, minutes later."""
        from workflows.services.infra.kafka import ensure_topics

        topics = [*self.function_topics, self.topics.step_results, self.topics.dlq]
        await ensure_topics(self.settings, topics)

    def _serve(self, name: str) -> None:
        topic = self.topics.function(name)
        entry = self.registry.get(name)
        summary = (entry.fn.__doc__ or "").strip().split("\n")[0] if entry is not None else ""
        doc = f"Step commands for the function {name}" + (f": {summary}" if summary else ".")

        async def run_step(command: StepCommand) -> KafkaResponse:
            result = await run_function(self.registry, command, worker_id=self.worker_id)
            return KafkaResponse(encode(result), key=result.execution_id.encode())

        run_step.__name__ = f"run_{name}"
        subscriber = self.subscriber(
            topic,
            group_id=f"{self.settings.topic_prefix}wf-worker-{name}",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,  # Tansu holds every fetch so long
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=self._command_decoder(topic),
            title=f"wf.fn.{name}",
            description=doc,
        )
        subscriber(self.results(run_step))

    def _command_decoder(self, topic: str) -> Any:
        limit = self.settings.max_message_bytes

        async def decode_command(message: KafkaMessage) -> StepCommand:
            try:
                return decode(StepCommand, message.body, max_bytes=limit)
            except ContractError as exc:
                record = message.raw_message
                letter = dead_letter(
                    source_topic=topic,
                    original=message.body,
                    reason=str(exc),
                    error_type="ContractError",
                    service="faststream-worker",
                    partition=getattr(record, "partition", None),
                    offset=getattr(record, "offset", None),
                    key=record_key(record),
                )
                await self.dead_letters.publish(encode(letter), key=record_key(record))
                raise AckMessage from None  # dead-lettered: commit it, run nothing

        return decode_command


def record_key(record: Any) -> bytes | None:
    key = getattr(record, "key", None)
    return key if isinstance(key, bytes) and key else None
