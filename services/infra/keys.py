"""Every Redis key the engine uses. Keys of one execution share a hash tag.

The hash tag column is the part of the key Redis Cluster hashes (`none`: the whole key).

| key | type | holds | TTL | hash tag |
|---|---|---|---|---|
| `{p}:exec:{<id>}` | hash | `rev` and `doc`, the state (JSON) | `state_ttl_s` after it ends | `{<id>}` |
| `{p}:exec:{<id>}:outbox` | list | messages/timers not yet flushed | until flushed | `{<id>}` |
| `{p}:exec:{<id>}:logs` | hash | `<step>#<attempt>` -> what its function logged | as the state | `{<id>}` |
| `{p}:exec:{<id>}:blob:<sha256>` | string | a large step input/output (JSON) | `state_ttl_s` | `{<id>}` |
| `{p}:executions` | zset | execution ids by start time (listing) | purged with the index rows | none |
| `{p}:timers` | zset | durable timers `id|kind|step|attempt` by due time (ms) | none | none |
| `{p}:def:{<name>}` | hash | version -> definition JSON | none | `{<name>}` |
| `{p}:def:{<name>}:meta` | hash | version -> registered-at/by JSON | none | `{<name>}` |
| `{p}:def:{<name>}:src` | hash | version -> `{"format", "text"}` as registered | none | `{<name>}` |
| `{p}:defs` | set | registered workflow names | none | none |
| `{p}:idem:<workflow>:<key>` | string | `<execution id> <body sha256>` of a key | 24 h | none |
| `{p}:functions` | hash | declared HTTP functions (name -> JSON) | none | none |
| `{p}:outcomes:<workflow>` | zset | one sample per ended execution by end time (ms) | 30 d | none |
| `{p}:limits:functions` | hash | declared function limits (name -> JSON) | none | none |
| `{p}:lease:fn:<function>` | zset | concurrency slots: holder -> lease expiry (ms) | last lease | none |
| `{p}:rate:fn:<function>` | zset | calls started: command id -> start time (ms) | one period | none |
| `{p}:rate:wf:<workflow>` | zset | executions admitted: execution id -> time (ms) | 24 h | none |
| `{p}:parked` | zset | step commands waiting for a slot, by due time (ms) | none | none |
| `{<lease>}:waiting` | zset | a function's commands waiting for a slot: id -> rank | none | `{<lease>}` |
| `{<lease>}:claimed` | zset | waiting commands taken by a dispatcher: id -> claim expiry | none | `{<lease>}` |
| `{<lease>}:commands` | hash | command id -> `<rank>|<command bytes>` (waiting or taken) | none | `{<lease>}` |
| `{p}:waiting` | set | functions that ever had a command waiting (`infra.waiting`) | none | none |
| `{p}:{apikeys}:<sha256>` | hash | an API key by the SHA-256 of its token | none | `{apikeys}` |
| `{p}:{apikeys}` | hash | API key id -> SHA-256 of its token (listing, revoking) | none | `{apikeys}` |
| `{p}:search:{<ns>}:rows` | hash | execution id -> `<rev>|<row JSON>` (search) | the state's | `{<ns>}` |
| `{p}:search:{<ns>}:all` | zset | `<start ms>\\0<id>` (lex): executions by start | the state's | `{<ns>}` |
| `{p}:search:{<ns>}:k:<col>` | zset | `<value>\\0<start>\\0<id>` (lex): a keyword | the state's | `{<ns>}` |
| `{p}:search:{<ns>}:n:<column>` | zset | id by value: a number or time column | the state's | `{<ns>}` |
| `{p}:search:{<ns>}:expires` | zset | id by when its state expires (ms) | none | `{<ns>}` |
| `{p}:search:{<ns>}:types` | hash | search attribute name -> keyword/number/time | none | `{<ns>}` |
| `{p}:def:<name>[:meta]` | hash | a definition as older builds kept it (moved at start) | none | none |
| `{p}:accepted:<id>` | string | `{"workflow", "version"}` of a start not yet picked up | 1 h | none |
| `{p}:readyz-probe` | string | `1`, the trigger's /readyz write probe | 10 s | none |
| `{p}:stepcache:{<fn>}:<sha256>` | string | a step's output by its `cache.key` | `cache.ttl` | `{<fn>}` |
| `{p}:breaker:{<function>}` | hash | a function's circuit: `state`, `until`, `probes`, ... | none | `{<function>}` |
| `{p}:done:<idempotency key>` | string | a step attempt's StepResult (JSON) for duplicates | `results_ttl_s` (24 h) | none |
| `{p}:notified:<message id>` | string | `1`: this lifecycle event was notified | 24 h | none |
| `{p}:notify:failed` | list | the newest 1,000 failed e-mail deliveries (JSON) | none | none |
| `{p}:notify:counts` | hash | notifier counters (`email.sent`, `email.failed`) | none | none |
| `{p}:dlq:replayed:<message id>` | string | the DLQ entry a dead letter was replayed from | 30 d | none |
| `{p}:{sched}:<id>` | hash | a schedule: `doc` (JSON), `next` (ms or ""), `paused`, ... | none | `{sched}` |
| `{p}:{sched}:due` | zset | ids of active schedules by next fire time (ms) | none | `{sched}` |
| `{p}:{sched}:ids` | set | every schedule id | none | `{sched}` |
| `{p}:sched-claim:<id>` | string | the firing replica's token, then `published` | 10 s, 7 d | none |
| `{p}:waits:<type>:<corr>` | set | executions waiting for the event (`infra.waits`) | state's | none |
| `{p}:sigbuf:<type>:<corr>` | hash | signal id -> a signal nobody waits for yet | buffer | none |
| `{p}:sigbuf:exec:{<id>}` | hash | signal id -> an early signal for one execution | its window | `{<id>}` |

Outcome samples (`{"id", "version", "status", "durationMs", "kpis"}` JSON) feed
`GET /workflows/{name}/metrics`; the newest `KPI_SAMPLES_CAP` are kept and the key expires
`KPI_SAMPLES_TTL_S` after the last execution of the workflow ended.

Redis Cluster rule: a Lua script or a MULTI/EXEC may only touch keys of one hash slot. The
keys of one execution share `{<id>}`, a definition's two hashes share `{<name>}`, schedule
keys share `{sched}`, a function's waiting keys are tagged with its lease key's whole name
`<lease>` = `{p}:lease:fn:<function>` (which has no braces: function names cannot hold them,
`FUNCTION_PATTERN`), so they share its slot, a namespace's search index keys share `{<namespace>}`
(`workflows.services.infra.search_index`); every other key is used by single-key commands and
scripts only, or in plain pipelines (which the cluster client splits by node). A new multi-key
script needs a shared hash tag.
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

    def waiting(self, function: str) -> str:
        return f"{{{self.function_lease(function)}}}:waiting"

    def waiting_claimed(self, function: str) -> str:
        return f"{{{self.function_lease(function)}}}:claimed"

    def waiting_commands(self, function: str) -> str:
        return f"{{{self.function_lease(function)}}}:commands"

    @property
    def waiting_functions(self) -> str:
        return f"{self.prefix}:waiting"

    def api_key(self, digest: str) -> str:
        return f"{self.prefix}:{{apikeys}}:{digest}"

    @property
    def api_keys(self) -> str:
        return f"{self.prefix}:{{apikeys}}"

    def attempt_logs(self, execution_id: str) -> str:
        return f"{self.prefix}:exec:{{{execution_id}}}:logs"

    def legacy_definition(self, name: str) -> str:
        """Where builds before the hash tag kept a definition (`migrate_definition_keys`)."""
        return f"{self.prefix}:def:{name}"

    def legacy_definition_meta(self, name: str) -> str:
        return f"{self.prefix}:def:{name}:meta"

    def accepted(self, execution_id: str) -> str:
        return f"{self.prefix}:accepted:{execution_id}"

    @property
    def readiness_probe(self) -> str:
        return f"{self.prefix}:readyz-probe"

    def step_cache(self, function: str, digest: str) -> str:
        return f"{self.prefix}:stepcache:{{{function}}}:{digest}"

    def breaker(self, function: str) -> str:
        return f"{self.prefix}:breaker:{{{function}}}"

    def step_result(self, idempotency_key: str) -> str:
        return f"{self.prefix}:done:{idempotency_key}"

    def notified(self, message_id: str) -> str:
        return f"{self.prefix}:notified:{message_id}"

    @property
    def email_failed(self) -> str:
        return f"{self.prefix}:notify:failed"

    @property
    def notify_counts(self) -> str:
        return f"{self.prefix}:notify:counts"

    def dlq_replayed(self, message_id: str) -> str:
        return f"{self.prefix}:dlq:replayed:{message_id}"

    def schedule(self, schedule_id: str) -> str:
        return f"{self.prefix}:{{sched}}:{schedule_id}"

    @property
    def schedules_due(self) -> str:
        return f"{self.prefix}:{{sched}}:due"

    @property
    def schedule_ids(self) -> str:
        return f"{self.prefix}:{{sched}}:ids"

    def schedule_claim(self, execution_id: str) -> str:
        return f"{self.prefix}:sched-claim:{execution_id}"

    def waits(self, event_type: str, correlation: str) -> str:
        """`event_type` as scoped to its namespace (`workflows.services.infra.waits`)."""
        return f"{self.prefix}:waits:{event_type}:{correlation}"

    def signal_buffer(self, event_type: str, correlation: str) -> str:
        return f"{self.prefix}:sigbuf:{event_type}:{correlation}"

    def execution_signals(self, execution_id: str) -> str:
        return f"{self.prefix}:sigbuf:exec:{{{execution_id}}}"

    def search(self, namespace: str) -> str:
        """The start of a namespace's search keys: `rows`, `all`, `k:<col>`... follow it."""
        return f"{self.prefix}:search:{{{namespace}}}:"
