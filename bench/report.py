"""Render the benchmark results (one JSON document) as Markdown.

Ratios are against the best peer in the same run (the best of Celery, DBOS and Temporal for
that figure): `value ÷ best peer's value`. For a latency < 1 means faster than the best
peer; for a throughput > 1 means more per second than the best peer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ONE_PROCESS", "PEERS", "SYSTEMS", "best_peer", "ratio", "render", "rows_by_system"]

SYSTEMS = ("workflows", "celery", "dbos", "temporal")
PEERS = ("celery", "dbos", "temporal")
ONE_PROCESS = "workflows (1 process)"
# engine processes first, then their servers, the driver last
ROLE_ORDER = (
    "orchestrator",
    "dispatcher",
    "orchestrator+dispatcher",
    "celery-worker",
    "temporal-worker",
    "driver+dbos",
    "broker",
    "temporal-server",
    "postgres",
    "redis",
    "driver",
)


def ratio(value: float | None, base: float | None) -> str:
    """`value ÷ base` as `1.23x`, or `n/a` when either side is missing or zero."""
    if not value or not base:
        return "n/a"
    return f"{value / base:.2f}x"


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ok(systems: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in systems.items() if isinstance(r, dict) and "scenarios" in r}


def rows_by_system(systems_all: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The measured systems in report order, with this engine's one-process layout as its
    own row right after `workflows` (its scenarios are serial and saturation only)."""
    systems = _ok(systems_all)
    order = [n for n in SYSTEMS if n in systems] + [n for n in systems if n not in SYSTEMS]
    rows: dict[str, dict[str, Any]] = {}
    for name in order:
        rows[name] = systems[name]
        one = _get(systems[name], "scenarios", "one_process")
        if name == "workflows" and one:
            rows[ONE_PROCESS] = {"system": ONE_PROCESS, "scenarios": one}
    return rows


def best_peer(
    rows: dict[str, dict[str, Any]], metric: Callable[[dict[str, Any]], float | None], lower: bool
) -> tuple[str, float] | None:
    """(peer, value) of the best peer for a metric: lowest latency or highest throughput."""
    found = [(n, metric(r)) for n, r in rows.items() if n in PEERS]
    values = [(n, v) for n, v in found if v]
    if not values:
        return None
    pick = min if lower else max
    return pick(values, key=lambda item: item[1])


def _vs_best(
    rows: dict[str, dict[str, Any]],
    name: str,
    metric: Callable[[dict[str, Any]], float | None],
    lower: bool,
) -> str:
    best = best_peer(rows, metric, lower)
    if best is None:
        return "n/a"
    return ratio(metric(rows[name]), best[1])


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


# -- the figures the summary compares -------------------------------------------------------
def _peak_step(ramp: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ramp step that reached the ramp's maximum completed/s (the first such step)."""
    steps = _get(ramp, "steps") or []
    best = _get(ramp, "max_completed_per_s")
    for step in steps:
        if step.get("completed_per_s") == best:
            return dict(step)
    return None


def _hop_p50(r: dict[str, Any]) -> float | None:
    return _get(r, "scenarios", "serial", "per_hop_ms", "p50")


def _hop_p99(r: dict[str, Any]) -> float | None:
    return _get(r, "scenarios", "serial", "per_hop_ms", "p99")


def _sat(r: dict[str, Any]) -> float | None:
    return _get(r, "scenarios", "saturation", "max_completed_per_s")


def _sat_hops(r: dict[str, Any]) -> float | None:
    return _get(r, "scenarios", "saturation", "max_hops_per_s")


def _sat_p99(r: dict[str, Any]) -> float | None:
    return _get(_peak_step(_get(r, "scenarios", "saturation")), "latency_ms", "p99")


def _fan_p50(r: dict[str, Any]) -> float | None:
    return _get(r, "scenarios", "fanout", "makespan_ms", "p50")


def _big_payload(r: dict[str, Any]) -> float | None:
    return _get(r, "scenarios", "payload", "262144", "max_completed_per_s")


SUMMARY = [
    ("serial hop p50 ms", _hop_p50, True, _ms),
    ("serial hop p99 ms", _hop_p99, True, _ms),
    ("saturation completed/s", _sat, False, _num),
    ("saturation hops/s", _sat_hops, False, _num),
    ("p99 ms at that rate", _sat_p99, True, _ms),
    ("fan-out 100 makespan p50 ms", _fan_p50, True, _ms),
    ("256 KB payload completed/s", _big_payload, False, _num),
]


def _summary(rows: dict[str, dict[str, Any]]) -> list[str]:
    header = ["system", *(label for label, *_ in SUMMARY)]
    body = [[name, *(fmt(metric(r)) for _, metric, _, fmt in SUMMARY)] for name, r in rows.items()]
    bests = [best_peer(rows, metric, lower) for _, metric, lower, _ in SUMMARY]
    lines = [
        "## Summary",
        "",
        "Serial: 10 no-op steps, one execution in flight, per hop = end-to-end / 10. "
        "Saturation: the highest completed/s of the open-loop ramp, and the p99 (from the "
        "scheduled start) at that step. Fan-out: 1 → 100 → join, one in flight. Payload: the "
        "ramp's highest completed/s with 256 KB step outputs. `-` = not measured.",
        "",
        *_table(header, body),
    ]
    if any(bests):
        best_row = ["**best peer**"] + [
            f"{fmt(b[1])} ({b[0]})" if b else "-"
            for b, (_, _, _, fmt) in zip(bests, SUMMARY, strict=True)
        ]
        ratio_rows = [best_row]
        for name in (n for n in rows if n not in PEERS):
            ratio_rows.append(
                [f"{name} ÷ best peer"]
                + [
                    ratio(metric(rows[name]), b[1]) if b else "n/a"
                    for b, (_, metric, _, _) in zip(bests, SUMMARY, strict=True)
                ]
            )
        lines += [
            "Against the best peer of this run, per figure (`value ÷ best peer`; for latency "
            "< 1 is faster than the best peer, for throughput > 1 is more per second):",
            "",
            *_table(["", *(label for label, *_ in SUMMARY)], ratio_rows),
        ]
    return lines


def _role_order(cpu: dict[str, float]) -> list[str]:
    roles = [r for r in ROLE_ORDER if r in cpu]
    return roles + [r for r in cpu if r not in roles and r != "machine"]


def _cpu_per_hop(rows: dict[str, dict[str, Any]]) -> list[str]:
    body = []
    for name, r in rows.items():
        step = _peak_step(_get(r, "scenarios", "saturation"))
        if not step or not step.get("hops_per_s") or not step.get("cpu_percent"):
            continue
        hops, cpu = step["hops_per_s"], step["cpu_percent"]

        def per_hop(percent: float, hops: float = hops) -> float:
            return percent / 100.0 * 1_000_000.0 / hops

        roles = _role_order(cpu)
        cells = ", ".join(f"{role} {per_hop(cpu[role]):,.0f}" for role in roles)
        total = sum(per_hop(cpu[role]) for role in roles)
        machine = per_hop(cpu["machine"]) if "machine" in cpu else None
        body.append(
            [
                name,
                f"{step['offered_per_s']}",
                _num(hops),
                cells,
                f"{total:,.0f}",
                f"{machine:,.0f}" if machine is not None else "-",
            ]
        )
    if not body:
        return []
    return [
        "### CPU per hop, by process role (µs of CPU per step hop)",
        "",
        "At the saturation step with the highest completed/s: each role's CPU over the window "
        "÷ hops completed per second. `total` sums the roles listed; `machine` is the whole "
        "machine's busy CPU per hop (it includes anything else running there).",
        "",
        *_table(
            ["system", "at offered/s", "hops/s", "µs per hop by role", "total", "machine"], body
        ),
    ]


def _idle(rows: dict[str, dict[str, Any]]) -> list[str]:
    body = []
    for name, r in rows.items():
        idle = _get(r, "scenarios", "idle")
        if not idle:
            continue
        cpu = idle["cpu_percent"]
        roles = _role_order(cpu)
        body.append(
            [
                name,
                _num(float(idle["seconds"])),
                ", ".join(f"{role} {cpu[role]:.1f}%" for role in roles),
                f"{sum(cpu[role] for role in roles):.1f}%",
                f"{cpu.get('machine', 0.0):.1f}%",
            ]
        )
    if not body:
        return []
    return [
        "### Idle CPU (everything up, no runs), % of one core",
        "",
        *_table(["system", "seconds", "by role", "total", "machine"], body),
    ]


def _floor(systems: dict[str, dict[str, Any]]) -> list[str]:
    ours = systems.get("workflows", {})
    floor = _get(ours, "scenarios", "floor")
    breakdown = _get(ours, "scenarios", "hop_breakdown")
    broker = _get(ours, "broker", "name") or "broker"
    version = _get(ours, "broker", "version") or ""
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
            f"### The floor under one hop (same {broker} {version} and redis-server, "
            "one message at a time), ms",
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
        serial_runs = breakdown.get("serial_runs")
        complete = breakdown.get("read_complete")
        covered = f"{breakdown['runs']} of {serial_runs}" if serial_runs else f"{breakdown['runs']}"
        lines += [
            "### Where a hop goes (this engine, serial chain, from Kafka record timestamps), ms",
            "",
            f"{covered} serial executions (the scenario's own topics, read after it from the "
            "offsets before it"
            + ("" if complete is None else f"; read to the end: {'yes' if complete else 'no'}")
            + "); producer timestamps have 1 ms resolution.",
            "",
            *_table(["leg", "p50", "p95", "p99"], rows),
        ]
    return lines


def _serial(rows: dict[str, dict[str, Any]]) -> list[str]:
    body = []
    for name, result in rows.items():
        serial = _get(result, "scenarios", "serial")
        if not serial:
            continue
        lat, hop = serial["latency_ms"], serial["per_hop_ms"]
        body.append(
            [
                name,
                str(serial["runs"]),
                *_latency_cells(lat),
                *_latency_cells(hop),
                _vs_best(rows, name, _hop_p50, lower=True),
            ]
        )
    header = ["system", "runs", "e2e p50", "e2e p95", "e2e p99", "hop p50", "hop p95"]
    header += ["hop p99", "hop p50 vs best peer"]
    return [
        "### Serial chain latency (10 no-op steps, one execution in flight), ms",
        "",
        "Per-hop overhead = (end-to-end - step work) / 10; the steps do nothing, so step "
        "work is 0 and the per-hop figures are the end-to-end ones divided by 10.",
        "",
        *_table(header, body),
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


def _max_table(rows: dict[str, dict[str, Any]], path: tuple[str, ...]) -> list[str]:
    def metric(r: dict[str, Any]) -> float | None:
        return _get(r, "scenarios", *path, "max_completed_per_s")

    body = []
    for name, result in rows.items():
        ramp = _get(result, "scenarios", *path)
        if not ramp:
            continue
        best = ramp["max_completed_per_s"]
        body.append(
            [
                name,
                f"{best}",
                f"{ramp['max_hops_per_s']}",
                _ms(_get(_peak_step(ramp), "latency_ms", "p99")),
                f"{ramp['max_sustained_per_s_p99_under_1s']}",
                _vs_best(rows, name, metric, lower=False),
                ramp["stop_reason"],
            ]
        )
    header = ["system", "max completed/s", "max hops/s", "p99 ms there", "max with p99 ≤ 1 s"]
    return _table([*header, "vs best peer", "ramp stopped because"], body)


def _saturation(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "### Saturation (10-step executions at a fixed open-loop rate, ramped)",
        "",
        "Latency is measured from the *scheduled* start (no coordinated omission). `backlog` "
        "= started but not completed when the window closed; `lost` = not completed after the "
        "drain timeout. CPU is per process role over the window, in % of one core "
        "(the machine has the number of cores given above).",
        "",
        *_max_table(rows, ("saturation",)),
    ]
    body = [
        row
        for n, r in rows.items()
        for row in _ramp_rows(n, _get(r, "scenarios", "saturation") or {})
    ]
    return lines + _table(RAMP_HEADER, body)


def _fanout(rows: dict[str, dict[str, Any]]) -> list[str]:
    body = []
    for name, result in rows.items():
        fan = _get(result, "scenarios", "fanout")
        if not fan:
            continue
        body.append(
            [
                name,
                str(fan["runs"]),
                *_latency_cells(fan["makespan_ms"]),
                _ms(fan["per_branch_ms"]["p50"]),
                _vs_best(rows, name, _fan_p50, lower=True),
            ]
        )
    return [
        "### Fan-out / fan-in (1 → 100 parallel no-op steps → join), ms",
        "",
        "Makespan = start to completion of the join, one execution in flight. Per-branch "
        "overhead = makespan p50 / 100 (the marginal cost of a branch when 100 run at once).",
        "",
        *_table(
            ["system", "runs", "makespan p50", "p95", "p99", "per branch p50", "p50 vs best peer"],
            body,
        ),
    ]


def _payload(rows: dict[str, dict[str, Any]]) -> list[str]:
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
        {s for r in rows.values() for s in (_get(r, "scenarios", "payload") or {})}, key=int
    )
    for size in sizes:
        lines += [f"#### {int(size) // 1024} KB outputs", ""]
        lines += _max_table(rows, ("payload", size))
        body = [
            row
            for n, r in rows.items()
            for row in _ramp_rows(n, _get(r, "scenarios", "payload", size) or {})
        ]
        lines += _table(RAMP_HEADER, body)
    return lines


def _change(a: float | None, b: float | None) -> str:
    return f"{(b - a) / a * 100:+.1f}%" if a and b is not None else "-"


def _flat(a: float | None, b: float | None) -> str:
    if not a or b is None:
        return "-"
    return "yes" if abs(b - a) / a <= 0.10 else "no"


def _retention(soak: dict[str, Any]) -> str:
    kept = soak.get("retention_s")
    if not kept:
        return "the defaults (states 7 days, step results 24 h)"
    return (
        f"states and step results kept {kept['state_ttl_s']} s and {kept['results_ttl_s']} s "
        "after they end (Redis is in its steady state once the soak has run that long)"
    )


def _soak(systems: dict[str, dict[str, Any]], mode: str) -> list[str]:
    soak = _get(systems.get("workflows", {}), "scenarios", "soak")
    title = "### Soak (this engine: open loop at half its saturation rate)"
    if not soak:
        return [title, "", "Not run.", ""]
    first, last = soak["first_window_ms"], soak["last_window_ms"]
    window = soak["window_s"]
    short = soak["seconds"] < 600
    lines = [
        title,
        "",
        f"{soak['seconds']:.0f} s at {soak['offered_per_s']}/s (saturation measured in this run: "
        f"{soak.get('saturation_per_s', '?')}/s); {soak['started']} executions started, "
        f"{soak['unfinished_after_drain']} unfinished after the drain. Latency from the "
        f"scheduled start; the first and last {window:.0f} s by scheduled start."
        + (
            f" **Short soak ({mode} mode)**: {soak['seconds']:.0f} s with {window:.0f} s "
            "windows instead of 10 minutes with 1-minute windows (`make bench` runs that)."
            if short
            else ""
        ),
        "",
        *_table(
            ["window", "runs", "p50 ms", "p95 ms", "p99 ms", "max ms"],
            [
                [
                    f"first {window:.0f} s",
                    str(first["count"]),
                    *_latency_cells(first),
                    _ms(first["max"]),
                ],
                [
                    f"last {window:.0f} s",
                    str(last["count"]),
                    *_latency_cells(last),
                    _ms(last["max"]),
                ],
            ],
        ),
        f"p99 last ÷ first: {ratio(last['p99'], first['p99'])}.",
        "",
    ]
    rss = soak["rss_mib"]
    start, end = rss["start"], rss["end"]
    warm = rss.get("warm")  # absent from reports written before it was sampled
    body = []
    for role in (k for k in start if k != "t_s"):
        a, w, b = start[role], (warm or {}).get(role), end.get(role)
        body.append(
            [
                role,
                _num(float(a)),
                _num(float(w)) if w is not None else "-",
                _num(float(b)) if b is not None else "-",
                _change(a, b),
                _change(w, b),
                _flat(w if warm else a, b),
            ]
        )
    warm_at = f"{warm['t_s']:.0f} s" if warm else "-"
    wanted = soak.get("warm_up_s")  # absent from reports written before it was derived
    if wanted is None:
        warm_up = f"once the first {window:.0f} s are over"
    elif wanted < soak["seconds"]:
        warm_up = (
            f"once the warm-up is over ({wanted:.0f} s, derived from the rate: the "
            "dispatcher's remembered result keys full, and ended executions past their "
            "retention and the next purge)"
        )
    else:
        warm_up = (
            f"once the first {window:.0f} s are over (the warm-up this rate needs, "
            f"{wanted:.0f} s, is longer than this soak: the caches are still filling)"
        )
    lines += [
        f"Resident memory (MiB) at the start of the {soak['seconds']:.0f} s, {warm_up} "
        f"({warm_at}), and at the end. Target: flat within 10 % after the warm-up; reported, "
        f"not asserted. Retention in the soak: {_retention(soak)}.",
        "",
        *_table(
            [
                "role",
                "start MiB",
                f"at {warm_at} MiB",
                "end MiB",
                "start -> end",
                f"{warm_at} -> end",
                "within 10 %",
            ],
            body,
        ),
        f"CPU over the soak (% of one core): {_cpu(soak.get('cpu_percent'))}.",
        "",
    ]
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


def _plots(meta: dict[str, Any]) -> list[str]:
    plots = meta.get("plots")
    if not isinstance(plots, dict):
        return []
    lines = ["### Plots", ""]
    if plots.get("saturation"):
        lines += [f"![latency and throughput against offered load]({plots['saturation']})", ""]
    if plots.get("soak"):
        lines += [f"![soak: latency and RSS over time]({plots['soak']})", ""]
    problems = [f"{k}: {v}" for k, v in plots.items() if k.endswith("error")]
    if problems:
        lines += [f"Plots not written: {'; '.join(problems)}.", ""]
    return lines if len(lines) > 2 else []


def render(doc: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    meta = doc.get("meta", {})
    systems_all: dict[str, Any] = doc.get("systems", {})
    systems = _ok(systems_all)
    rows = rows_by_system(systems_all)
    machine = meta.get("machine", {})
    broker = _get(systems.get("workflows", {}), "broker") or {}
    broker_line = (
        f"This engine's broker: **{broker.get('name', '?')} {broker.get('version', '?')}** "
        f"(JVM heap {broker.get('heap', '?')})."
        if broker
        else ""
    )
    lines = [
        "# Benchmark: Workflows vs Celery vs DBOS vs Temporal",
        "",
        f"Mode: **{meta.get('mode', '?')}** · generated {meta.get('generated', '?')} · "
        f"total {meta.get('duration_s', '?')} s. Numbers are reported, never asserted.",
        *([broker_line] if broker_line else []),
        "Ratios are against the best peer of the same run (Celery, DBOS, Temporal; the best "
        "for each figure): `value ÷ best peer`. For latency < 1 is faster than the best peer, "
        "for throughput > 1 is more per second.",
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
    if ONE_PROCESS in rows:
        lines += [
            f"- **{ONE_PROCESS}** — this engine with orchestrator and dispatcher in one "
            "`workflows run orchestrator dispatcher` process (same broker, Redis and "
            "durability); serial and saturation scenarios only, fresh topics for each.",
        ]
    lines += [""]
    lines += _summary(rows) + _cpu_per_hop(rows) + _idle(rows)
    lines += ["## Results", ""]
    lines += _serial(rows) + _floor(systems) + _saturation(rows) + _fanout(rows)
    lines += _payload(rows) + _soak(systems, str(meta.get("mode", "?"))) + _scaling(systems)
    lines += _plots(meta)
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
