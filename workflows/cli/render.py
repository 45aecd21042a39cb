"""Human-readable CLI output: tables, the `execute --wait` progress line, shell completion."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "completion_script",
    "executions_table",
    "progress_line",
    "register",
    "status_view",
    "table",
]

MAX_CELL = 60


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; values longer than 60 chars are cut."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = [[h.upper() for h in headers], *cells]
    return "\n".join(
        "  ".join(text.ljust(widths[i]) for i, text in enumerate(line)).rstrip() for line in lines
    )


def when(value: Any, clock_only: bool = False) -> str | None:
    """An ISO timestamp short: `2026-12-02 01:36:42` (UTC as the API gives it), or with
    `clock_only` `01:36:42.658` (an execution's steps and audit entries share a day)."""
    if not isinstance(value, str) or len(value) < 19 or value[10] != "T":
        return value if value is None else str(value)
    if clock_only:
        return value[11:23]
    return value[:10] + " " + value[11:19]


def _actor(actor: Any) -> str | None:
    if not isinstance(actor, dict):
        return None
    return ":".join(str(p) for p in (actor.get("kind"), actor.get("id")) if p) or None


def _progress(progress: Any) -> str:
    if not isinstance(progress, dict) or "total" not in progress:
        return "-"
    return f"{progress.get('done', 0)}/{progress['total']}"


def executions_table(executions: Sequence[dict[str, Any]]) -> str:
    if not executions:
        return "no executions"
    return table(
        ["execution", "workflow", "version", "status", "steps", "created", "finished"],
        [
            [
                e.get("executionId"),
                e.get("workflow"),
                e.get("version"),
                e.get("status"),
                _progress(e.get("progress")),
                when(e.get("createdAt")),
                when(e.get("finishedAt")),
            ]
            for e in executions
        ],
    )


def status_view(status: dict[str, Any]) -> str:
    """An execution's facts, its steps, and (when asked for) its metrics and audit trail."""
    facts = [
        ("execution", status.get("executionId")),
        ("workflow", f"{status.get('workflow')} v{status.get('version')}"),
        ("status", str(status.get("status")) + (" (paused)" if status.get("paused") else "")),
        ("steps done", _progress(status.get("progress"))),
        ("current", ", ".join(status.get("currentSteps") or []) or None),
        ("created", when(status.get("createdAt"))),
        ("finished", when(status.get("finishedAt"))),
        ("retry of", status.get("retryOf")),
        ("retried by", status.get("retriedBy")),
    ]
    width = max(len(k) for k, _ in facts)
    parts = ["\n".join(f"{k + ':':<{width + 1}} {_cell(v)}" for k, v in facts if v is not None)]
    steps = status.get("steps") or {}
    if steps:
        rows = []
        for step_id, step in steps.items():
            error = step.get("error") or {}
            rows.append(
                [
                    step_id,
                    step.get("function"),
                    str(step.get("status")) + (" (fallback)" if step.get("fallback") else ""),
                    step.get("attempt"),
                    when(step.get("startedAt"), clock_only=True),
                    when(step.get("finishedAt"), clock_only=True),
                    error.get("message") if error else None,
                ]
            )
        parts.append(
            table(["step", "function", "status", "attempt", "started", "finished", "error"], rows)
        )
    if status.get("error"):
        parts.append(f"error: {_cell(status['error'].get('message', status['error']))}")
    if status.get("output") is not None:
        parts.append("output:\n" + json.dumps(status["output"], indent=2, sort_keys=True))
    metrics = status.get("metrics")
    if metrics:
        parts.append(
            "metrics:\n"
            + table(
                ["metric", "value"],
                [
                    ["durationMs", metrics.get("durationMs")],
                    ["retries", metrics.get("retries")],
                    *(
                        [f"step {k} ms", v]
                        for k, v in (metrics.get("stepDurationsMs") or {}).items()
                    ),
                    *([f"kpi {k}", v] for k, v in (metrics.get("kpis") or {}).items()),
                ],
            )
        )
    trail = status.get("auditTrail")
    if trail:
        parts.append(
            "audit trail:\n"
            + table(
                ["seq", "at", "type", "step", "attempt", "actor", "data"],
                [
                    [
                        e.get("seq"),
                        when(e.get("at"), clock_only=True),
                        *(e.get(k) for k in ("type", "stepId", "attempt")),
                        _actor(e.get("actor")),
                        e.get("data") or None,
                    ]
                    for e in trail
                ],
            )
        )
    return "\n\n".join(parts)


def progress_line(status: dict[str, Any], elapsed: float) -> str:
    """One line for the `execute --wait` progress view: status, steps done/total, current step."""
    current = ", ".join(status.get("currentSteps") or []) or "-"
    return (
        f"{status.get('executionId', '')}  {status.get('status')}  "
        f"steps {_progress(status.get('progress'))}  current: {current}  {elapsed:.1f}s"
    )


# ---------------------------------------------------------------- shell completion


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        s
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for s in action.option_strings
        if s.startswith("--") or len(s) == 2
    )


def _tree(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], tuple[list[str], list[str]]]:
    """Command path -> (subcommands, options), for every parser in the argparse tree."""
    subs = _subparsers(parser)
    out = {path: (sorted(subs), _options(parser))}
    for name, sub in subs.items():
        out.update(_tree(sub, (*path, name)))
    return out


BASH = """# bash completion for workflows; load with: source <(workflows completion bash)
_workflows_complete() {
    local cur cmdpath word i
    cur="${COMP_WORDS[COMP_CWORD]}"
    cmdpath=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        [[ "$word" == -* ]] && continue
        case "$cmdpath/$word" in
%(known)s
        esac
    done
    local words=""
    case "$cmdpath" in
%(cases)s
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _workflows_complete workflows
"""

ZSH = """#compdef workflows
# zsh completion for workflows; load with: source <(workflows completion zsh)
_workflows() {
    local cmdpath="" word i
    for ((i = 2; i < CURRENT; i++)); do
        word="${words[i]}"
        [[ "$word" == -* ]] && continue
        case "$cmdpath/$word" in
%(known)s
        esac
    done
    local -a candidates
    case "$cmdpath" in
%(cases)s
    esac
    compadd -- $candidates
}
compdef _workflows workflows
"""


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """A static completion script listing every subcommand and its options."""
    tree = _tree(parser)
    known = "\n".join(
        f'            "/{"/".join(path)}") cmdpath="/{"/".join(path)}" ;;'
        for path in sorted(tree)
        if path
    )
    cases = []
    for path, (subs, options) in sorted(tree.items()):
        words = " ".join([*subs, *options])
        key = "/" + "/".join(path) if path else ""
        if shell == "bash":
            cases.append(f'        "{key}") words="{words}" ;;')
        else:
            cases.append(f'        "{key}") candidates=({words}) ;;')
    template = BASH if shell == "bash" else ZSH
    return template % {"known": known, "cases": "\n".join(cases)}


def _completion(root: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    print(completion_script(root, args.shell), end="")
    return 0


def register(commands: Any, root: argparse.ArgumentParser) -> None:
    """`workflows completion SHELL`: the script for `root`, the whole command line's parser
    (passed down by `build_parser`, so this module never imports the entry module)."""
    parser = commands.add_parser(
        "completion", help="print a shell completion script (source <(workflows completion bash))"
    )
    parser.add_argument("shell", choices=["bash", "zsh"])
    parser.set_defaults(handler=lambda args: _completion(root, args))
