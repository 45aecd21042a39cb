"""What functions logged per step attempt, stored beside the execution in Redis.

`{p}:exec:{<id>}:logs` is a hash (under the execution's hash tag): field
`<stepId>#<attempt>` -> `{"ok", "lines": [{"at", "level", "logger", "message"}]}`. The
orchestrator stores the `logs` of each step result it receives (`store_result_logs`): the
lines are bounded again (whatever runtime sent them: `MAX_LINES` lines, `MAX_BYTES` bytes,
with a note when cut) and redacted like the audit trail (the secret input fields' values are
masked, `workflows.services.core.redaction`). The first copy of an attempt wins (a
redelivered result changes nothing). The key expires with the state: the state save sets the same
TTL on it when the execution ends (`workflows.services.infra.store`), and a write to an execution
whose state already has a TTL copies it.
"""

from __future__ import annotations

import json
from typing import Any

from workflows.contracts import StepResult
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.redaction import redact, secret_values
from workflows.services.core.state import ExecutionState
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient

__all__ = ["MAX_BYTES", "MAX_LINES", "AttemptLogs", "bounded", "logs_key", "store_result_logs"]

MAX_LINES = 200
MAX_BYTES = 32_768

# KEYS: logs, state; ARGV: field, value
_PUT = """
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return added
"""


def logs_key(keys: Keys, execution_id: str) -> str:
    """`{p}:exec:{<id>}:logs`: beside the state, in its hash slot."""
    return keys.attempt_logs(execution_id)


def bounded(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first lines within MAX_LINES and MAX_BYTES, and a note of what was cut."""
    out: list[dict[str, Any]] = []
    size = 0
    cut, cut_bytes = 0, 0
    for line in lines:
        n = len(str(line.get("message", "")).encode())
        if len(out) >= MAX_LINES or size + n > MAX_BYTES:
            cut, cut_bytes = cut + 1, cut_bytes + n
            continue
        out.append(line)
        size += n
    if cut:
        note = f"… {cut} more lines ({cut_bytes:,} bytes) cut"
        out.append({"at": None, "level": "NOTE", "logger": "workflows", "message": note})
    return out


class AttemptLogs:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._put = redis.register_script(_PUT)

    async def put(
        self, execution_id: str, step_id: str, attempt: int, ok: bool, lines: list[dict[str, Any]]
    ) -> bool:
        """Store an attempt's lines (bounded); False when that attempt's were stored already."""
        value = json.dumps({"ok": ok, "lines": bounded(lines)}, separators=(",", ":"))
        keys = [logs_key(self.keys, execution_id), self.keys.state(execution_id)]
        return bool(await self._put(keys=keys, args=[f"{step_id}#{attempt}", value]))

    async def get(self, execution_id: str, step_id: str | None = None) -> list[dict[str, Any]]:
        """`[{stepId, attempt, ok, lines}]` by step (first-stored order kept) and attempt."""
        raw = await self.redis.hgetall(logs_key(self.keys, execution_id))
        out = []
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            step, _, attempt = name.rpartition("#")
            if step_id is not None and step != step_id:
                continue
            body = json.loads(value)
            out.append({"stepId": step, "attempt": int(attempt), **body})
        return sorted(out, key=_first_line_at)


def _first_line_at(attempt: dict[str, Any]) -> tuple[str, int]:
    lines = attempt["lines"]
    return (str(lines[0].get("at") or "") if lines else "", attempt["attempt"])


async def store_result_logs(
    logs: AttemptLogs,
    workflow: CompiledWorkflow | None,
    state: ExecutionState | None,
    message: Any,
) -> None:
    """The orchestrator's hook: store a step result's log lines, redacted. No I/O when the
    message is not a result with lines or its execution is unknown."""
    if not isinstance(message, StepResult) or not message.logs or state is None:
        return
    lines = [line.model_dump(mode="json") for line in message.logs]
    schema = workflow.definition.input if workflow is not None else None
    lines = redact(lines, secret_values(schema, state.input))
    await logs.put(message.execution_id, message.step_id, message.attempt, message.ok, lines)
