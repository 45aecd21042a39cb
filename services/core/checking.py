"""Check definition text the way `workflows validate` does, for the CLI and the editor alike.

Pure: text in, a `TextCheck` out. `issue_line(source, issue)` is the exact line the CLI
prints; the editor API returns the same text per issue, plus where it sits in the document
(`offset`, a 0-based character index) so the editor can underline it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.issues import DefinitionError, ValidationIssue, format_path
from workflows.services.core.loader import ParsedText, parse_definition_text
from workflows.services.core.validation import compile_workflow

__all__ = ["Format", "TextCheck", "check_text", "format_of", "issue_line"]

Format = Literal["yaml", "json"]


def format_of(filename: str) -> Format:
    """The format a file name implies: `.json` is JSON, anything else is read as YAML."""
    return "json" if filename.lower().endswith(".json") else "yaml"


def issue_line(source: str, issue: ValidationIssue) -> str:
    """One problem as `workflows validate` prints it: `<source>: line N: <path>: ...`."""
    return f"{source}: {issue}"


@dataclass(frozen=True, slots=True)
class TextCheck:
    """The outcome of checking one document: `compiled` when valid, else the issues."""

    text: str
    issues: list[ValidationIssue] = field(default_factory=list)
    compiled: CompiledWorkflow | None = None
    parsed: ParsedText | None = None

    @property
    def ok(self) -> bool:
        return self.compiled is not None

    def offset(self, issue: ValidationIssue) -> int | None:
        """0-based index in `text` of the problem: the column inside a one-line value, else
        the start of the value, else the start of the issue's line."""
        if issue.line is None:
            return None
        starts = _line_starts(self.text)
        if not 1 <= issue.line <= len(starts):
            return None
        line_start = starts[issue.line - 1]
        line_end = starts[issue.line] - 1 if issue.line < len(starts) else len(self.text)
        value_column = self._value_column(issue)
        if value_column is None:
            if issue.path == "(root)" and issue.column is not None:
                return min(line_start + issue.column - 1, line_end)
            return line_start
        at = line_start + value_column - 1
        if issue.column is not None and at + issue.column - 1 <= line_end:
            at += issue.column - 1
        return min(at, line_end)

    def _value_column(self, issue: ValidationIssue) -> int | None:
        if self.parsed is None:
            return None
        for loc, (line, column) in self.parsed.locations.items():
            if line == issue.line and format_path(loc) == issue.path:
                return column
        return None


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            starts.append(index + 1)
    return starts


def _with_locations(text: str, parsed: ParsedText) -> ParsedText:
    """JSON parsed strictly, with the line of each value read by the YAML composer (JSON is
    nearly a YAML subset); without them when that reading differs."""
    try:
        located = parse_definition_text(text, "yaml")
    except DefinitionError:
        return parsed
    if located.data != parsed.data:
        return parsed
    return ParsedText(parsed.data, located.locations)


def check_text(text: str, fmt: Format = "yaml") -> TextCheck:
    """Parse and validate `text`; every problem found, each with its line and column."""
    try:
        parsed = parse_definition_text(text, fmt)
    except DefinitionError as exc:
        return TextCheck(text, issues=list(exc.issues))
    if fmt == "json":
        parsed = _with_locations(text, parsed)
    try:
        compiled = compile_workflow(parsed.data, parsed)
    except DefinitionError as exc:
        return TextCheck(text, issues=list(exc.issues), parsed=parsed)
    return TextCheck(text, compiled=compiled, parsed=parsed)
