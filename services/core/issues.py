"""Validation findings and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.services.core.errors import CoreError

__all__ = ["DefinitionError", "ValidationIssue", "format_path"]


def format_path(loc: tuple[str | int, ...]) -> str:
    """`("steps", 3, "input", "to")` -> `steps[3].input.to`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem in a definition: where (`path`, column in that value, file line) and what."""

    path: str
    message: str
    column: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        col = f"column {self.column}: " if self.column is not None else ""
        return f"{where}{self.path}: {col}{self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "message": self.message,
            "column": self.column,
            "line": self.line,
            "text": str(self),
        }


class DefinitionError(CoreError, ValueError):
    """A workflow definition is invalid; `issues` lists every problem found."""

    def __init__(self, issues: list[ValidationIssue], source: str | None = None) -> None:
        self.issues = issues
        self.source = source
        prefix = f"{source}: " if source else ""
        lines = "\n".join(f"{prefix}{issue}" for issue in issues)
        super().__init__(f"invalid workflow definition ({len(issues)} problem(s)):\n{lines}")
