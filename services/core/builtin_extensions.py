"""The extensions every compiled workflow carries (`workflows.services.core.extensions`), in order.

`saga` comes first so that a failure's compensations begin before the children of the
execution are cancelled; `waits` before `children` on dispatch (a wait step never starts a
child).
"""

from __future__ import annotations

from workflows.services.core import children, saga, waits
from workflows.services.core.extensions import Extension

__all__ = ["BUILTIN"]

BUILTIN: tuple[Extension, ...] = (saga.EXTENSION, waits.EXTENSION, children.EXTENSION)
