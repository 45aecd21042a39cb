"""A side-by-side line diff of two texts (two versions of a definition), for the dashboard.

Pure. Each row holds the left line, the right line (either may be missing) and what
happened: `same`, `changed`, `removed` (only on the left) or `added` (only on the right).
Line numbers are 1-based.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

__all__ = ["side_by_side"]


def _cell(lines: list[str], index: int | None) -> dict[str, Any] | None:
    return None if index is None else {"line": index + 1, "text": lines[index]}


def side_by_side(left: str, right: str) -> list[dict[str, Any]]:
    a, b = left.splitlines(), right.splitlines()
    rows: list[dict[str, Any]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                rows.append(
                    {"kind": "same", "left": _cell(a, i1 + offset), "right": _cell(b, j1 + offset)}
                )
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            li = i1 + offset if i1 + offset < i2 else None
            rj = j1 + offset if j1 + offset < j2 else None
            kind = (
                "changed"
                if li is not None and rj is not None
                else "removed"
                if rj is None
                else "added"
            )
            rows.append({"kind": kind, "left": _cell(a, li), "right": _cell(b, rj)})
    return rows
