"""Every Redis key the engine uses. Keys of one execution share a hash tag.

| key | type | holds | TTL |
|---|---|---|---|
| `{p}:exec:{<id>}` | hash | `rev` and `doc`, the state (JSON) | `state_ttl_s` after it ends |
| `{p}:exec:{<id>}:outbox` | list | messages/timers not yet flushed | until flushed |
| `{p}:exec:{<id>}:logs` | hash | `<step>#<attempt>` -> what its function logged | as the state |
| `{p}:exec:{<id>}:blob:<sha256>` | string | a large step input/output (JSON) | `state_ttl_s` |
| `{p}:executions` | zset | execution ids by start time (listing) | none (trimmed) |
| `{p}:timers` | zset | durable timers `id|kind|step|attempt` by due time (ms) | none |
| `{p}:def:{<name>}` | hash | version -> definition JSON | none |
| `{p}:def:{<name>}:meta` | hash | version -> registered-at/by JSON | none |
| `{p}:def:{<name>}:src` | hash | version -> `{"format", "text"}` as registered | none |
| `{p}:defs` | set | registered workflow names | none |
| `{p}:idem:<workflow>:<key>` | string | `<execution id> <body sha256>` of a key | 24 h |
| `{p}:functions` | hash | declared HTTP functions (name -> JSON) | none |
| `{p}:outcomes:<workflow>` | zset | one sample per ended execution by end time (ms) | 30 d |
| `{p}:limits:functions` | hash | declared function limits (name -> JSON) | none |
| `{p}:lease:fn:<function>` | zset | concurrency slots: holder -> lease expiry (ms) | last lease |
| `{p}:rate:fn:<function>` | zset | calls started: command id -> start time (ms) | one period |
| `{p}:rate:wf:<workflow>` | zset | executions admitted: execution id -> time (ms) | 24 h |
| `{p}:parked` | zset | step commands waiting for a slot, by due time (ms) | none |
| `{p}:{apikeys}:<sha256>` | hash | an API key by the SHA-256 of its token | none |
| `{p}:{apikeys}` | hash | API key id -> SHA-256 of its token (listing, revoking) | none |
| `{p}:search:{<ns>}:rows` | hash | execution id -> `<rev>|<row JSON>` (search) | the state's |
| `{p}:search:{<ns>}:all` | zset | `<start ms>\\0<id>` (lex): executions by start | the state's |
| `{p}:search:{<ns>}:k:<col>` | zset | `<value>\\0<start>\\0<id>` (lex): a keyword | the state's |
| `{p}:search:{<ns>}:n:<column>` | zset | id by value: a number or time column | the state's |
| `{p}:search:{<ns>}:expires` | zset | id by when its state expires (ms) | none |
| `{p}:search:{<ns>}:types` | hash | search attribute name -> keyword/number/time | none |

Outcome samples (`{"id", "version", "status", "durationMs", "kpis"}` JSON) feed
`GET /workflows/{name}/metrics`; the newest `KPI_SAMPLES_CAP` are kept and the key expires
`KPI_SAMPLES_TTL_S` after the last execution of the workflow ended.

Redis Cluster rule: a Lua script or a MULTI/EXEC may only touch keys of one hash slot. The
keys of one execution share `{<id>}`, a definition's two hashes share `{<name>}`, schedule
keys share `{sched}`, a namespace's search index keys share `{<namespace>}`
(`services.infra.search_index`); every other key is used by single-key commands and scripts only, or
in plain pipelines (which the cluster client splits by node). A new multi-key script needs
a shared hash tag.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IDEMPOTENCY_TTL_S", "KPI_SAMPLES_CAP", "KPI_SAMPLES_TTL_S", "Keys"]

IDEMPOTENCY_TTL_S = 24 * 3600
KPI_SAMPLES_CAP = 10_000
KPI_SAMPLES_TTL_S = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "wf"

    def state(self, execution_id: str) -> str:
        return f"{self.prefix}:exec:{{{execution_id}}}"

    def outbox(self, execution_id: str) -> str:
        return f"{self.prefix}:exec:{{{execution_id}}}:outbox"

    def blob(self, execution_id: str, sha256: str) -> str:
        return f"{self.prefix}:exec:{{{execution_id}}}:blob:{sha256}"

    @property
    def executions(self) -> str:
        return f"{self.prefix}:executions"

    @property
    def timers(self) -> str:
        return f"{self.prefix}:timers"

    def definition(self, name: str) -> str:
        return f"{self.prefix}:def:{{{name}}}"

    def definition_meta(self, name: str) -> str:
        return f"{self.prefix}:def:{{{name}}}:meta"

    def definition_source(self, name: str) -> str:
        return f"{self.prefix}:def:{{{name}}}:src"

    @property
    def definitions(self) -> str:
        return f"{self.prefix}:defs"

    def idempotency(self, workflow: str, key: str) -> str:
        return f"{self.prefix}:idem:{workflow}:{key}"

    @property
    def functions(self) -> str:
        return f"{self.prefix}:functions"

    def outcomes(self, workflow: str) -> str:
        return f"{self.prefix}:outcomes:{workflow}"

    @property
    def function_limits(self) -> str:
        return f"{self.prefix}:limits:functions"

    def function_lease(self, function: str) -> str:
        return f"{self.prefix}:lease:fn:{function}"

    def function_rate(self, function: str) -> str:
        return f"{self.prefix}:rate:fn:{function}"

    def workflow_rate(self, workflow: str) -> str:
        return f"{self.prefix}:rate:wf:{workflow}"

    @property
    def parked(self) -> str:
        return f"{self.prefix}:parked"

    def api_key(self, digest: str) -> str:
        return f"{self.prefix}:{{apikeys}}:{digest}"

    @property
    def api_keys(self) -> str:
        return f"{self.prefix}:{{apikeys}}"
