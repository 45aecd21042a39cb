"""Capture what a Python function logs during one attempt: its `logging` records and prints.

`capture()` opens a buffer in a context variable; a handler on the root logger and a proxy
around `sys.stdout`/`sys.stderr` append to the buffer of the context they run in, so
attempts running at once (tasks, or threads started by `asyncio.to_thread`, which copies the
context) never mix their lines, and code outside an attempt logs and prints as before.

The buffer is bounded: at most `MAX_LINES` lines and `MAX_BYTES` bytes of text, each line at
most `MAX_LINE_CHARS`; past that, lines are counted and dropped, and a last line says how many
(`… 310 more lines (41,200 bytes) cut`). Records below a logger's level never reach any
handler; when the root logger has no handler of its own (the services log with structlog),
capturing lowers the root level to INFO and passes records of WARNING and above that no
attempt captured to Python's last-resort handler, as before.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["MAX_BYTES", "MAX_LINES", "MAX_LINE_CHARS", "Captured", "capture"]

MAX_LINES = 200
MAX_BYTES = 32_768
MAX_LINE_CHARS = 2_000


class Captured:
    """The lines of one attempt: `{"at", "level", "logger", "message"}` dicts, bounded."""

    def __init__(self) -> None:
        self.lines: list[dict[str, str]] = []
        self.size = 0
        self.dropped = 0
        self.dropped_bytes = 0
        self._partial: dict[str, str] = {}  # stream -> text after its last newline
        self._lock = threading.Lock()

    def add(self, level: str, logger: str, message: str) -> None:
        if len(message) > MAX_LINE_CHARS:
            message = message[:MAX_LINE_CHARS] + f"… ({len(message) - MAX_LINE_CHARS} chars cut)"
        size = len(message.encode("utf-8", "replace"))
        with self._lock:
            if len(self.lines) >= MAX_LINES or self.size + size > MAX_BYTES:
                self.dropped += 1
                self.dropped_bytes += size
                return
            self.size += size
            at = datetime.now(UTC).isoformat(timespec="milliseconds")
            self.lines.append({"at": at, "level": level, "logger": logger, "message": message})

    def write(self, stream: str, text: str) -> None:
        """Text printed to `stream` (stdout/stderr): one line per newline."""
        buffered = self._partial.pop(stream, "") + text
        *complete, rest = buffered.split("\n")
        for line in complete:
            self.add(stream, stream, line)
        if rest:
            self._partial[stream] = rest

    def result(self) -> list[dict[str, str]]:
        """The lines, with a note when some were cut (printed text without a newline last)."""
        for stream, rest in list(self._partial.items()):
            self.add(stream, stream, rest)
        self._partial.clear()
        out = list(self.lines)
        if self.dropped:
            note = f"… {self.dropped} more lines ({self.dropped_bytes:,} bytes) cut"
            at = datetime.now(UTC).isoformat(timespec="milliseconds")
            out.append({"at": at, "level": "NOTE", "logger": "workflows", "message": note})
        return out


_current: contextvars.ContextVar[Captured | None] = contextvars.ContextVar(
    "workflows_attempt_logs", default=None
)
_installed = False
_install_lock = threading.Lock()


class _Handler(logging.Handler):
    def __init__(self, forward: bool) -> None:
        super().__init__(logging.NOTSET)
        self.forward = forward  # root had no handler: keep the last-resort behaviour
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        captured = _current.get()
        if captured is None:
            if self.forward and record.levelno >= logging.WARNING and logging.lastResort:
                logging.lastResort.handle(record)
            return
        try:
            message = self.format(record)
        except Exception:  # a record that cannot format: its raw message then
            message = str(record.msg)
        captured.add(record.levelname, record.name, message)


class _Stream:
    """Stands in for sys.stdout/sys.stderr: an attempt's text to its buffer, else through."""

    def __init__(self, name: str, inner: TextIO) -> None:
        self._name = name
        self._inner = inner

    def write(self, text: str) -> int:
        captured = _current.get()
        if captured is None:
            return self._inner.write(text)
        captured.write(self._name, text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        root = logging.getLogger()
        forward = not root.handlers
        if forward and root.level > logging.INFO:
            root.setLevel(logging.INFO)
        root.addHandler(_Handler(forward))
        _installed = True


def _wrap_streams() -> None:
    """Stand in for sys.stdout/sys.stderr (again, if something replaced them since)."""
    if not isinstance(sys.stdout, _Stream):
        sys.stdout = _Stream("stdout", sys.stdout)
    if not isinstance(sys.stderr, _Stream):
        sys.stderr = _Stream("stderr", sys.stderr)


@contextmanager
def capture() -> Iterator[Captured]:
    """Capture this context's log records and prints until the block ends."""
    if not _installed:
        _install()
    _wrap_streams()
    captured = Captured()
    token = _current.set(captured)
    try:
        yield captured
    finally:
        _current.reset(token)
