"""A small SDK for Workflows function workers in Python on librdkafka (confluent-kafka).

    worker = Worker()

    @worker.function("sendPersonalizedEmail")
    def send(email: EmailInput, ctx: StepContext) -> EmailSent: ...

    worker.run()  # until SIGTERM/SIGINT, then drain

For each function it consumes `<prefix>wf.fn.<function>` in the consumer group
`<prefix>wf-worker-<function>`, validates every command against step-command.schema.json,
binds the input to the function's first parameter type (a dataclass, or dict/Any), calls it,
validates and publishes the StepResult to `<prefix>wf.steps.results` keyed by execution id
(murmur2, like the Java client) and commits the offset once the broker has the result
(at-least-once). Records that are not valid commands go to `<prefix>wf.dlq`. Raise
`RetryableError` / `FinalError` to fail with a type; any other exception is retryable.
This module needs only confluent-kafka and jsonschema, nothing else from the engine.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import inspect
import json
import os
import signal
import socket
import sys
import threading
import typing
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

__all__ = [
    "Command",
    "Contracts",
    "FinalError",
    "RetryableError",
    "StepContext",
    "StepFailure",
    "Worker",
]


class StepFailure(Exception):
    """A step failure with a `type`; `retryable=False` is final (a fallback still runs)."""

    def __init__(
        self, type: str, message: str, *, retryable: bool, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.type, self.message, self.retryable, self.details = type, message, retryable, details


class RetryableError(StepFailure):
    """The orchestrator retries with the workflow's backoff (until maxAttempts)."""

    def __init__(self, type: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(type, message, retryable=True, details=details)


class FinalError(StepFailure):
    """Not retried."""

    def __init__(self, type: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(type, message, retryable=False, details=details)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class Command:
    """One attempt of one step (step-command.schema.json): a field for every property, so
    the golden test fails when the contract gains one this SDK does not know yet."""

    schema_version: int
    message_id: str
    execution_id: str
    occurred_at: datetime
    command_id: str
    workflow: str
    workflow_version: int
    step_id: str
    function: str
    input: Any
    attempt: int
    deadline: datetime | None
    idempotency_key: str
    input_ref: str | None
    priority: int | None  # higher first when its function is backlogged

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Command:
        fields = {f.name: data.get(_camel(f.name)) for f in dataclasses.fields(cls)}
        fields["occurred_at"] = _time(fields["occurred_at"])
        fields["deadline"] = _time(fields["deadline"])
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        data = {_camel(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}
        data["occurredAt"] = _rfc3339(self.occurred_at)
        data["deadline"] = _rfc3339(self.deadline)
        return data


RESULT_FIELDS = (
    "schemaVersion", "messageId", "executionId", "occurredAt", "commandId", "stepId", "attempt",
    "ok", "output", "error", "workerId", "startedAt", "finishedAt", "call", "logs",
)  # fmt: skip
"""The properties of a StepResult this SDK writes (every one, nulls included)."""
ERROR_FIELDS = ("type", "message", "retryable", "details")
DEAD_LETTER_FIELDS = (
    "schemaVersion", "messageId", "occurredAt", "sourceTopic", "partition", "offset", "key",
    "reason", "errorType", "originalB64", "originalText", "service", "executionId",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class StepContext:
    """The command being run: its idempotency key (make side effects once), attempt, deadline."""

    command: Command

    @property
    def idempotency_key(self) -> str:
        return self.command.idempotency_key

    @property
    def attempt(self) -> int:
        return self.command.attempt

    @property
    def deadline(self) -> datetime | None:
        return self.command.deadline


class Contracts:
    """contracts/schemas/*.schema.json (draft 2020-12, formats checked) from a `contracts` dir."""

    STEMS = ("step-command", "step-result", "dead-letter")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.schemas: dict[str, dict[str, Any]] = {}
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        for stem in self.STEMS:
            schema = json.loads((root / "schemas" / f"{stem}.schema.json").read_text("utf-8"))
            self.schemas[stem] = schema
            self._validators[stem] = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )

    @classmethod
    def find(cls) -> Contracts:
        """$WORKFLOWS_CONTRACTS_DIR, else the first `contracts` folder with schemas/ found
        walking up from the working directory, then from this file."""
        if configured := os.environ.get("WORKFLOWS_CONTRACTS_DIR"):
            return cls(Path(configured))
        for start in (Path.cwd(), Path(__file__).resolve().parent):
            for folder in (start, *start.parents):
                if (folder / "contracts" / "schemas" / "step-command.schema.json").is_file():
                    return cls(folder / "contracts")
        raise RuntimeError("contracts/schemas not found: set WORKFLOWS_CONTRACTS_DIR")

    def violations(self, stem: str, message: Any) -> list[str]:
        """Every violation of `message` against schema `stem`, as `at /path: why`."""
        errors = self._validators[stem].iter_errors(message)
        return sorted(f"at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)

    def properties(self, stem: str, definition: str | None = None) -> set[str]:
        schema = self.schemas[stem]
        if definition is not None:
            schema = schema["$defs"][definition]
        return set(schema["properties"])


@dataclasses.dataclass
class _Registered:
    function: Callable[..., Any]
    input_type: Any


class InvalidCommand(Exception):
    """A record that is not a valid step command (it goes to the DLQ)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


class Worker:
    """Serves registered functions over Kafka (see the module's docstring)."""

    def __init__(self, contracts: Contracts | None = None, worker_id: str | None = None) -> None:
        self.contracts = contracts or Contracts.find()
        self.worker_id = (
            worker_id
            or os.environ.get("WORKFLOWS_WORKER_ID")
            or (f"python-{socket.gethostname()}-{os.getpid()}")
        )
        self.functions: dict[str, _Registered] = {}
        self._done: OrderedDict[str, dict[str, Any]] = OrderedDict()  # durable in production
        self._stop = threading.Event()

    def function(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: serve `name` with fn(input, ctx); input typed by its annotation."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.register(name, fn)
            return fn

        return register

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        params = list(inspect.signature(fn).parameters)
        hints = typing.get_type_hints(fn)
        self.functions[name] = _Registered(fn, hints.get(params[0]) if params else None)

    # --- one command -------------------------------------------------------------------------

    def process(self, value: bytes) -> dict[str, Any]:
        """The StepResult (schema-valid) answering one command record; InvalidCommand if it
        is not a valid command."""
        try:
            data = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidCommand(f"invalid JSON: {exc}") from None
        if problems := self.contracts.violations("step-command", data):
            raise InvalidCommand("; ".join(problems))
        command = Command.from_json(data)
        result = self._done.get(command.idempotency_key) or self._run(command)
        problems = self._result_problems(result)
        if problems:  # the output cannot be sent as it is: fail the step instead
            error = FinalError("InvalidResult", "; ".join(problems))
            result = self._result(command, _time(result["startedAt"]) or _now(), error=error)
        if result["ok"] or not result["error"]["retryable"]:
            self._done[command.idempotency_key] = result
            while len(self._done) > 10_000:
                self._done.popitem(last=False)
        return result

    def _result_problems(self, result: dict[str, Any]) -> list[str]:
        try:
            return self.contracts.violations("step-result", json.loads(json.dumps(result)))
        except (TypeError, ValueError) as exc:
            return [f"not JSON: {exc}"]

    def _run(self, command: Command) -> dict[str, Any]:
        started = _now()
        entry = self.functions.get(command.function)
        try:
            if entry is None:
                raise FinalError("UnknownFunction", f"no function named {command.function!r}")
            if command.input_ref is not None:
                raise FinalError("UnsupportedInputRef", "claim-check inputs are not supported")
            if command.deadline is not None and started >= command.deadline:
                raise RetryableError("StepTimeout", "the step deadline passed before it started")
            value = self._bind(entry.input_type, command.input)
            output = _to_json(entry.function(value, StepContext(command)))
        except StepFailure as failure:
            return self._result(command, started, error=failure)
        except Exception as exc:
            failure = RetryableError(type(exc).__name__, str(exc) or repr(exc))
            return self._result(command, started, error=failure)
        return self._result(command, started, output=output)

    @staticmethod
    def _bind(input_type: Any, value: Any) -> Any:
        if not (dataclasses.is_dataclass(input_type) and isinstance(input_type, type)):
            return value
        if not isinstance(value, dict):
            raise FinalError("InputValidationError", f"input must be an object, got {value!r}")
        known = {f.name for f in dataclasses.fields(input_type)}
        try:
            return input_type(**{k: v for k, v in value.items() if k in known})
        except TypeError as exc:
            raise FinalError("InputValidationError", str(exc)) from None

    def _result(
        self,
        command: Command,
        started: datetime,
        *,
        output: Any = None,
        error: StepFailure | None = None,
    ) -> dict[str, Any]:
        finished = _now()
        return {
            "schemaVersion": 1,
            "messageId": _new_id(),
            "executionId": command.execution_id,
            "occurredAt": _rfc3339(finished),
            "commandId": command.command_id,
            "stepId": command.step_id,
            "attempt": command.attempt,
            "ok": error is None,
            "output": output if error is None else None,
            "error": None
            if error is None
            else {
                "type": error.type,
                "message": error.message,
                "retryable": error.retryable,
                "details": error.details,
            },
            "workerId": self.worker_id,
            "startedAt": _rfc3339(started),
            "finishedAt": _rfc3339(finished),
            "call": None,
            "logs": None,  # or [{"at", "level", "logger", "message"}]: see `workflows logs`
        }

    def dead_letter(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes, reason: str
    ) -> dict[str, Any]:
        """The dead letter (dead-letter.schema.json) of a record `process` refused."""
        try:
            text: str | None = value.decode("utf-8")[:65536]
        except UnicodeDecodeError:
            text = None
        return {
            "schemaVersion": 1,
            "messageId": _new_id(),
            "occurredAt": _rfc3339(_now()),
            "sourceTopic": topic,
            "partition": partition,
            "offset": offset,
            "key": None if key is None else key.decode("utf-8", "replace"),
            "reason": reason,
            "errorType": "invalid_command",
            "originalB64": base64.b64encode(value).decode(),
            "originalText": text,
            "service": self.worker_id,
            "executionId": None,
        }

    # --- Kafka -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop fetching; the commands already fetched are answered, then the groups left."""
        self._stop.set()

    def run(self) -> None:
        """Serve every registered function until SIGTERM/SIGINT (or `stop()`), then drain."""
        if not self.functions:
            raise RuntimeError("no function registered")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        threads = [
            threading.Thread(target=self._serve, args=(name,), name=f"wf-worker-{name}")
            for name in sorted(self.functions)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # the main thread keeps handling signals

    def _serve(self, function: str) -> None:
        from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

        prefix = os.environ.get("WORKFLOWS_TOPIC_PREFIX", "")
        bootstrap = os.environ.get("WORKFLOWS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
        commands, results, dlq = (
            f"{prefix}wf.fn.{function}",
            f"{prefix}wf.steps.results",
            f"{prefix}wf.dlq",
        )
        self._create_topic(bootstrap, commands)
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"{prefix}wf-worker-{function}",
                "client.id": self.worker_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "topic.metadata.refresh.interval.ms": 5000,
            }
        )
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": f"{self.worker_id}-results",
                "acks": "all",
                "enable.idempotence": True,
                "partitioner": "murmur2_random",  # the Java client's, as the protocol asks
                "compression.type": "none",
            }
        )
        keys = signing_keys()
        consumer.subscribe([commands])
        _log("worker_started", function=function, topic=commands, workerId=self.worker_id)
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        _log("consumer_error", error=str(msg.error()))
                    continue
                value = msg.value() or b""
                try:
                    unsigned = signature_problem(keys, value, msg.headers())
                    if unsigned is not None:
                        raise InvalidCommand(unsigned)
                    result = self._keeping_membership(consumer, TopicPartition, value)
                except InvalidCommand as invalid:
                    letter = self.dead_letter(
                        msg.topic(), msg.partition(), msg.offset(), msg.key(), value, str(invalid)
                    )
                    _deliver(producer, dlq, msg.key(), letter)
                    _log("command_dead_lettered", offset=msg.offset(), reason=str(invalid))
                else:
                    _deliver(producer, results, result["executionId"].encode(), result)
                    _log(
                        "step_done",
                        executionId=result["executionId"],
                        stepId=result["stepId"],
                        ok=result["ok"],
                    )
                consumer.commit(message=msg, asynchronous=False)
            _log("worker_drained", function=function, topic=commands)
        finally:
            consumer.close()  # leaves the group
            producer.flush(10)

    def _keeping_membership(self, consumer: Any, partition_type: Any, value: bytes) -> Any:
        """Run the step on a thread while polling with the partitions paused, so a step longer
        than max.poll.interval.ms keeps the group membership; records of partitions assigned
        meanwhile are rewound for later."""
        paused = list(consumer.assignment())
        consumer.pause(paused)
        with ThreadPoolExecutor(1) as pool:
            step = pool.submit(self.process, value)
            try:
                while not step.done():
                    extra = consumer.poll(0.2)
                    if extra is not None and not extra.error():
                        tp = partition_type(extra.topic(), extra.partition(), extra.offset())
                        consumer.seek(tp)
                        consumer.pause([tp])
                        paused.append(tp)
                return step.result()
            finally:
                assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
                consumer.resume([tp for tp in paused if (tp.topic, tp.partition) in assigned])

    @staticmethod
    def _create_topic(bootstrap: str, topic: str) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        partitions = int(os.environ.get("WORKFLOWS_PARTITIONS", "8"))
        admin = AdminClient({"bootstrap.servers": bootstrap})
        future = admin.create_topics([NewTopic(topic, partitions)])[topic]
        try:
            future.result(30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                _log("topic_not_created", topic=topic, error=str(exc))


SIGNATURE_HEADER = "wf-signature"


def signature(key: bytes, value: bytes) -> bytes:
    """The wf-signature header of a record whose value is `value`: v1= and the hex
    HMAC-SHA256 of the value bytes (docs/worker-protocol.md, "Signing")."""
    return b"v1=" + hmac.new(key, value, hashlib.sha256).hexdigest().encode()


def signing_keys() -> list[bytes]:
    """WORKFLOWS_SIGNING_KEY (it signs), then WORKFLOWS_SIGNING_KEYS_PREVIOUS (a JSON list
    that still verifies); none: signing is off."""
    keys = [os.environ.get("WORKFLOWS_SIGNING_KEY", "")]
    keys += json.loads(os.environ.get("WORKFLOWS_SIGNING_KEYS_PREVIOUS") or "[]")
    return [k.encode() for k in keys if k]


def signature_problem(keys: list[bytes], value: bytes, headers: Any) -> str | None:
    """Why a record is not validly signed under `keys`, or None (valid, or signing off)."""
    if not keys:
        return None
    given = next((v for k, v in headers or () if k == SIGNATURE_HEADER), None)
    if given is None:
        return "the record has no wf-signature header and signing is on"
    if any(hmac.compare_digest(given, signature(key, value)) for key in keys):
        return None
    return "the record's wf-signature does not match its value under any signing key"


def _deliver(producer: Any, topic: str, key: bytes | None, message: dict[str, Any]) -> None:
    """Produce (signed when a signing key is set) and wait for the broker's ack (retrying
    until it has it)."""
    value = json.dumps(message).encode()
    keys = signing_keys()
    headers = [(SIGNATURE_HEADER, signature(keys[0], value))] if keys else None
    while True:
        outcome: list[Any] = []
        producer.produce(
            topic,
            value,
            key,
            headers=headers,
            on_delivery=lambda err, _msg, out=outcome: out.append(err),
        )
        producer.flush(30)
        if outcome and outcome[0] is None:
            return
        _log("produce_failed", topic=topic, error=str(outcome[:1]))


def _log(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), file=sys.stdout, flush=True)


def message_id_for(idempotency_key: str) -> str:
    """A stable message id for a side effect keyed by `idempotency_key`."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
