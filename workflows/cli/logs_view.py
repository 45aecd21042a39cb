"""`workflows logs EXECUTION [STEP]`: each attempt's lines, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["attempt_logs_text"]


def _clock(at: Any) -> str:
    text = str(at or "")
    return text[11:23] if len(text) >= 23 else text.ljust(12)


def attempt_logs_text(attempts: Sequence[dict[str, Any]]) -> str:
    if not attempts:
        return "no logs (the functions logged nothing, or the execution has none yet)"
    out = []
    for attempt in attempts:
        outcome = "ok" if attempt.get("ok") else "failed"
        out.append(f"{attempt['stepId']} attempt {attempt['attempt']} ({outcome})")
        for line in attempt.get("lines", []):
            level = str(line.get("level", ""))
            who = line.get("logger") or ""
            prefix = f"{who}: " if who and who not in ("stdout", "stderr", "workflows") else ""
            out.append(f"  {_clock(line.get('at'))} {level:<7} {prefix}{line.get('message', '')}")
    return "\n".join(out)
