"""Every Redis key is built in `services/infra/keys.py` (issue 18, item 4).

A key is an f-string that starts with the key prefix (`{settings.key_prefix}:...`,
`{self.prefix}:...`) or with another key (`{keys.state(id)}:logs`); this test scans the
services' sources for such f-strings anywhere but `keys.py`, so a new key shape gets its
`Keys` method and its row in that module's table instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "services" / "infra" / "keys.py"


def _starts_a_key(node: ast.JoinedStr) -> bool:
    if len(node.values) < 2:
        return False
    first, second = node.values[0], node.values[1]
    if not isinstance(first, ast.FormattedValue) or not isinstance(second, ast.Constant):
        return False
    if not str(second.value).startswith(":") or (len(node.values) == 2 and second.value == ":"):
        return False  # not a key; `{keys.prefix}:` alone is what a key starts with
    head = ast.unparse(first.value)
    return head.endswith("prefix") or head.startswith(("keys.", "self.keys."))


def keys_built_outside(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr) and _starts_a_key(node):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_finds_a_key_built_by_hand(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        'a = f"{settings.key_prefix}:done:{k}"\n'
        'b = f"{keys.state(i)}:logs"\n'
        'c = f"{self.prefix}:{{sched}}:due"\n'
        'd = f"{topic}:{partition}"\n'
        'e = f"{settings.topic_prefix}{GROUP}"\n'
    )
    found = keys_built_outside([sample])
    assert [line.split(":")[1] for line in found] == ["1", "2", "3"]


def test_no_redis_key_is_built_outside_keys_py() -> None:
    paths = [p for p in sorted((ROOT / "services").rglob("*.py")) if p != KEYS]
    assert keys_built_outside(paths) == []
