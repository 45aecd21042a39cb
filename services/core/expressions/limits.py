"""Resource limits for expressions, all in one place."""

from __future__ import annotations

from dataclasses import dataclass

MAX_SOURCE_LENGTH = 4096
MAX_DEPTH = 64
MAX_STRING_LENGTH = 1_000_000
MAX_ARRAY_ITEMS = 10_000
MAX_STEPS = 100_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits applied by the parser (length, depth) and the interpreter (sizes, steps)."""

    max_source_length: int = MAX_SOURCE_LENGTH
    max_depth: int = MAX_DEPTH
    max_string_length: int = MAX_STRING_LENGTH
    max_array_items: int = MAX_ARRAY_ITEMS
    max_steps: int = MAX_STEPS


DEFAULT_LIMITS = Limits()
