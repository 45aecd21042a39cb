"""Durations as text wherever the definition takes milliseconds: `500ms`, `5s`, `1h30m`, `P1D`.

Pure. `parse_duration_ms` turns an integer (milliseconds), a string of digits, a sum of
`<number><unit>` parts (`ms s m h d w`, e.g. `'1h30m'`, `'1.5s'`) or an ISO-8601 duration
without years or months (`'P1D'`, `'PT30M'`, `'P1DT12H'`, `'P2W'`, `'PT0.5S'`) into
milliseconds. `DurationMs` is the pydantic field type: the model keeps an `int` (ms), so the
engine never sees text, and the JSON Schema says "integer or duration text".
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

__all__ = ["DURATION_PATTERN", "DurationMs", "parse_duration_ms"]

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})\s*(ms|s|m|h|d|w)")
_UNIT_TEXT = re.compile(rf"^\s*(?:{_NUMBER}\s*(?:ms|s|m|h|d|w)\s*)+$")
_ISO = re.compile(
    rf"^P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?$"
)
DURATION_PATTERN = (
    r"^\s*(\d+|(\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+"
    r"|P(?=\d|T\d)(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?)\s*$"
)
EXAMPLES = "'500ms', '5s', '30m', '24h', '1h30m' or 'P1D'"


def _iso_ms(text: str) -> int | None:
    found = _ISO.match(text)
    if found is None or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {unit: float(value) for unit, value in found.groupdict().items() if value}
    if not parts:
        return None
    return round(sum(value * _UNITS[unit] for unit, value in parts.items()))


def parse_duration_ms(value: Any) -> int:
    """Milliseconds from an int, digits, `'5s'`-style text or ISO-8601; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected milliseconds or a duration like {EXAMPLES}, got {value!r}")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a duration")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number of milliseconds")
        return int(value)
    text = value.strip()
    if text.isdigit():
        return int(text)
    if _UNIT_TEXT.match(text):
        return round(sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
    iso = _iso_ms(text.upper()) if text[:1] in ("P", "p") else None
    if iso is not None:
        return iso
    if re.match(r"^P.*\d+[YM]", text.upper().split("T")[0]):
        raise ValueError(f"{value!r}: years and months have no fixed length; use days ('P30D')")
    raise ValueError(f"{value!r} is not a duration: use milliseconds or text like {EXAMPLES}")


def _before(value: Any) -> Any:
    return parse_duration_ms(value) if isinstance(value, str) else value


DurationMs = Annotated[
    int,
    BeforeValidator(
        _before,
        json_schema_input_type=int | Annotated[str, Field(pattern=DURATION_PATTERN)],
    ),
]
"""An `int` of milliseconds that also accepts duration text (validated, then converted)."""
