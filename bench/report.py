"""Render the benchmark results (one JSON document) as Markdown.

Ratios are always `peer ÷ workflows`: for a latency, > 1 means the peer is slower than
this engine; for a throughput, > 1 means the peer completes more per second.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ratio", "render"]

SYSTEMS = ("workflows", "celery", "dbos")


def ratio(peer: float | None, ours: float | None) -> str:
    """`peer ÷ ours` as `1.23x`, or `n/a` when either side is missing or zero."""
    if not peer or not ours:
        return "n/a"
    return f"{peer / ours:.2f}x"


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ok(systems: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in systems.items() if isinstance(r, dict) and "scenarios" in r}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _cpu(cpu: dict[str, float] | None) -> str:
    if not cpu:
        return "-"
    return ", ".join(f"{role} {value:.0f}%" for role, value in cpu.items())


def _latency_cells(summary: dict[str, Any] | None) -> list[str]:
    return [_ms(_get(summary, k)) for k in ("p50", "p95", "p99")]


def _floor(systems: dict[str, dict[str, Any]]) -> list[str]:
    ours = systems.get("workflows", {})
    floor = _get(ours, "scenarios", "floor")
    breakdown = _get(ours, "scenarios", "hop_breakdown")
    lines: list[str] = []
    if floor:
        rows = [
            [label, *_latency_cells(floor[key])]
            for key, label in (
                ("kafka_produce_acked_ms", "Kafka produce, acks=all, awaited"),
                ("kafka_produce_then_consumed_ms", "Kafka produce → consumed by another client"),
                ("redis_script_ms", "Redis script (SET + INCR), awaited"),
            )
        ]
        lines += [
            "### The floor under one hop (same Tansu and redis-server, one message at a time), ms",
            "",
            f"Consumer fetch_max_wait_ms = {floor['fetch_max_wait_ms']}, {floor['rounds']} rounds.",
            "",
            *_table(["operation", "p50", "p95", "p99"], rows),
        ]
    if breakdown:
        labels = {
            "start_to_first_command": "start published → 1st step command published (orchestrator)",
            "dispatcher_leg": (
                "step command → step result (dispatcher: fetch, results cache, function, produce)"
            ),
            "orchestrator_leg": (
                "step result → next step command (orchestrator: fetch, Redis load/save, produce)"
            ),
            "last_result_to_completed": "last result → execution.completed (orchestrator)",
        }
        rows = [[labels.get(k, k), *_latency_cells(v)] for k, v in breakdown["legs_ms"].items()]
        lines += [
            "### Where a hop goes (this engine, serial chain, from Kafka record timestamps), ms",
            "",
            f"{breakdown['runs']} executions; producer timestamps have 1 ms resolution.",
            "",
            *_table(["leg", "p50", "p95", "p99"], rows),
        ]
    return lines


def _serial(systems: dict[str, dict[str, Any]]) -> list[str]:
    ours = systems.get("workflows", {})
    base = _get(ours, "scenarios", "serial", "latency_ms", "p50")
    rows = []
    for name, result in systems.items():
        serial = _get(result, "scenarios", "serial")
        if not serial:
            continue
        lat, hop = serial["latency_ms"], serial["per_hop_ms"]
        rows.append(
            [
                name,
                str(serial["runs"]),
                *_latency_cells(lat),
                *_latency_cells(hop),
                ratio(lat["p50"], base),
            ]
        )
    header = ["system", "runs", "e2e p50", "e2e p95", "e2e p99", "hop p50", "hop p95"]
    header += ["hop p99", "e2e p50 ratio"]
    return [
        "### Serial chain latency (10 no-op steps, one execution in flight), ms",
        "",
        "Per-hop overhead = (end-to-end - step work) / 10; the steps do nothing, so step "
        "work is 0 and the per-hop figures are the end-to-end ones divided by 10.",
        "",
        *_table(header, rows),
    ]


def _ramp_rows(name: str, ramp: dict[str, Any]) -> list[list[str]]:
    rows = []
    for step in ramp.get("steps", []):
        lat = step["latency_ms"]
        rows.append(
            [
                name,
                f"{step['offered_per_s']}",
                f"{step['completed_per_s']}",
                f"{step.get('hops_per_s', '-')}",
                *_latency_cells(lat),
                str(step["backlog_at_window_end"]),
                str(step["unfinished_after_drain"]),
                _cpu(step.get("cpu_percent")),
            ]
        )
    return rows


RAMP_HEADER = [
    "system",
    "offered/s",
    "completed/s",
    "hops/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "backlog",
    "lost",
    "CPU (% of one core)",
]


def _max_table(systems: dict[str, dict[str, Any]], path: tuple[str, ...]) -> list[str]:
    base = _get(systems.get("workflows", {}), "scenarios", *path, "max_completed_per_s")
    rows = []
    for name, result in systems.items():
        ramp = _get(result, "scenarios", *path)
        if not ramp:
            continue
        best = ramp["max_completed_per_s"]
        rows.append(
            [
                name,
                f"{best}",
                f"{ramp['max_hops_per_s']}",
                f"{ramp['max_sustained_per_s_p99_under_1s']}",
                ratio(best, base),
                ramp["stop_reason"],
            ]
        )
    header = ["system", "max completed/s", "max hops/s", "max with p99 ≤ 1 s", "ratio"]
    return _table([*header, "ramp stopped because"], rows)


def _saturation(systems: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "### Saturation (10-step executions at a fixed open-loop rate, ramped)",
        "",
        "Latency is measured from the *scheduled* start (no coordinated omission). `backlog` "
        "= started but not completed when the window closed; `lost` = not completed after the "
        "drain timeout. CPU is per process role over the window, in % of one core "
        "(the machine has the number of cores given above).",
        "",
        *_max_table(systems, ("saturation",)),
    ]
    rows = [
        row
        for n, r in systems.items()
        for row in _ramp_rows(n, _get(r, "scenarios", "saturation") or {})
    ]
    return lines + _table(RAMP_HEADER, rows)


def _fanout(systems: dict[str, dict[str, Any]]) -> list[str]:
    base = _get(systems.get("workflows", {}), "scenarios", "fanout", "makespan_ms", "p50")
    rows = []
    for name, result in systems.items():
        fan = _get(result, "scenarios", "fanout")
        if not fan:
            continue
        rows.append(
            [
                name,
                str(fan["runs"]),
                *_latency_cells(fan["makespan_ms"]),
                _ms(fan["per_branch_ms"]["p50"]),
                ratio(fan["makespan_ms"]["p50"], base),
            ]
        )
    return [
        "### Fan-out / fan-in (1 → 100 parallel no-op steps → join), ms",
        "",
        "Makespan = start to completion of the join, one execution in flight. Per-branch "
        "overhead = makespan p50 / 100 (the marginal cost of a branch when 100 run at once).",
        "",
        *_table(
            ["system", "runs", "makespan p50", "p95", "p99", "per branch p50", "p50 ratio"], rows
        ),
    ]


def _payload(systems: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "### Payload size (10-step executions, each step outputs N bytes)",
        "",
        "Outputs above `WORKFLOWS_PAYLOAD_INLINE_MAX_BYTES` (64 KiB by default) are stored "
        "once in Redis under the execution's hash tag and travel by reference (claim check); "
        "smaller ones travel inline in the result message, the execution state and the "
        "`step.succeeded` event. `WORKFLOWS_MAX_MESSAGE_BYTES` is raised to 4 MB for the run.",
        "",
    ]
    sizes = sorted(
        {s for r in systems.values() for s in (_get(r, "scenarios", "payload") or {})}, key=int
    )
    for size in sizes:
        lines += [f"#### {int(size) // 1024} KB outputs", ""]
        lines += _max_table(systems, ("payload", size))
        rows = [
            row
            for n, r in systems.items()
            for row in _ramp_rows(n, _get(r, "scenarios", "payload", size) or {})
        ]
        lines += _table(RAMP_HEADER, rows)
    return lines


def _scaling(systems: dict[str, dict[str, Any]]) -> list[str]:
    runs = _get(systems.get("workflows", {}), "scenarios", "scaling")
    if not runs:
        return [
            "### Scaling (this engine: replicas as OS processes)",
            "",
            "Not run in quick mode (it restarts the services four times); see `make bench`.",
            "",
        ]
    base = runs[0]["completed_per_s"]
    rows = [
        [
            str(r["orchestrators"]),
            str(r["dispatchers"]),
            str(r["in_flight"]),
            f"{r['completed_per_s']}",
            ratio(r["completed_per_s"], base),
            *_latency_cells(r["latency_ms"]),
            _cpu(r.get("cpu_percent")),
        ]
        for r in runs
    ]
    return [
        "### Scaling (this engine: replicas as separate OS processes, closed loop)",
        "",
        "A fixed number of 10-step executions always in flight; ratio to 1 x 1.",
        "",
        *_table(
            [
                "orchestrators",
                "dispatchers",
                "in flight",
                "completed/s",
                "ratio",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "CPU (% of one core)",
            ],
            rows,
        ),
    ]


def render(doc: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    meta = doc.get("meta", {})
    systems_all: dict[str, Any] = doc.get("systems", {})
    systems = _ok(systems_all)
    machine = meta.get("machine", {})
    lines = [
        "# Benchmark: Workflows vs Celery vs DBOS",
        "",
        f"Mode: **{meta.get('mode', '?')}** · generated {meta.get('generated', '?')} · "
        f"total {meta.get('duration_s', '?')} s. Numbers are reported, never asserted.",
        "Ratios are `peer ÷ workflows`: for latency > 1 means the peer is slower than us, "
        "for throughput > 1 means the peer completes more per second.",
        "",
        "## Machine",
        "",
        *_table(
            ["cpu", "cores", "RAM GiB", "kernel"],
            [
                [
                    str(machine.get("cpu")),
                    str(machine.get("cores")),
                    str(machine.get("ram_gib")),
                    str(machine.get("kernel")),
                ]
            ],
        ),
        "## Versions",
        "",
        *_table(
            ["component", "version"], [[k, str(v)] for k, v in meta.get("versions", {}).items()]
        ),
        "## Systems, setup and durability",
        "",
    ]
    for name in systems_all:
        result = systems_all[name]
        if name in systems:
            load = result.get("loadavg_1m", {})
            lines += [
                f"- **{name}** — {result.get('setup', '')}. Durability: "
                f"{result.get('durability', '')}. Suite took {result.get('duration_s', '?')} s; "
                f"1-min load average {load.get('before', '?')} before, "
                f"{load.get('after', '?')} after.",
            ]
        else:
            error = str(result.get("error", "unknown error")).strip().splitlines()
            lines += [f"- **{name}** — **not measured**: {error[-1] if error else '?'}"]
    lines += ["", "## Results", ""]
    lines += _serial(systems) + _floor(systems) + _saturation(systems) + _fanout(systems)
    lines += _payload(systems) + _scaling(systems)
    peers = meta.get("published", [])
    if peers:
        lines += [
            "## Published figures of other engines (their setups, not measured here)",
            "",
            *[f"- {p}" for p in peers],
            "",
        ]
    notes = meta.get("notes")
    if notes:
        lines += [notes.strip(), ""]
    return "\n".join(lines)
