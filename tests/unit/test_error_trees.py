"""The error trees drawn in the docstrings of `services/core/errors.py` and `workflows/errors.py`
are the classes' real trees (issue 18, item 3).

Each drawn name is a class whose parent in the tree is the drawn parent; a name marked
``(ValueError)`` or ``(TimeoutError)`` is also one (and an unmarked one is not a ValueError);
every subclass of a drawn root in those packages is drawn, so a new error cannot slip in
without its place in the drawing.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

import pytest

import workflows
import workflows.errors
import workflows.services.core
import workflows.services.core.errors

_BRANCH = re.compile(r"^(?P<indent>[\s│]*)(?:[├└]── )?(?P<name>[A-Z]\w+)(?: \((?P<also>\w+)\))?")


def drawing(module: ModuleType) -> dict[str, tuple[str | None, str | None]]:
    """name -> (drawn parent or None for a root, the built-in it is also drawn as)."""
    text = (module.__doc__ or "").split("::", 1)[1].split("\n\n`", 1)[0]
    tree: dict[str, tuple[str | None, str | None]] = {}
    path: list[str] = []
    for line in text.splitlines():
        body = line[4:]
        match = _BRANCH.match(body)
        if not match or ("──" not in body and not body[:1].isalpha()):
            continue  # a blank line or the continuation of a description
        depth = len(match["indent"]) // 4 + (1 if "──" in body else 0)
        del path[depth:]
        tree[match["name"]] = (path[-1] if path else None, match["also"])
        path.append(match["name"])
    return tree


def classes_in(package: ModuleType) -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException):
                found[value.__name__] = value
    return found


@pytest.mark.parametrize(
    ("module", "package", "roots"),
    [
        (workflows.services.core.errors, workflows.services.core, ["CoreError"]),
        (workflows.errors, workflows, ["WorkflowsError", "ClientError"]),
    ],
)
def test_the_drawn_error_tree_is_the_classes_tree(
    module: ModuleType, package: ModuleType, roots: list[str]
) -> None:
    tree = drawing(module)
    assert [name for name, (parent, _) in tree.items() if parent is None] == roots
    classes = classes_in(package)
    for name, (parent, also) in tree.items():
        cls = classes[name]
        if parent is None:
            assert cls.__bases__ == (Exception,), name
            continue
        assert classes[parent] in cls.__bases__, f"{name} is drawn under {parent}"
        for builtin in (ValueError, TimeoutError):
            drawn = also == builtin.__name__
            assert issubclass(cls, builtin) == drawn, f"{name}: {builtin.__name__} {drawn}"
    under_roots = {
        name
        for name, cls in classes.items()
        if any(issubclass(cls, classes[root]) for root in roots)
    }
    assert under_roots == set(tree), "every error under a root is drawn, and only those"


def test_the_core_errors_keep_their_ids() -> None:
    from workflows.services.core.namespaces import NamespaceError
    from workflows.services.core.payload_refs import PayloadTooLarge
    from workflows.services.core.schedules import ScheduleError

    assert NamespaceError("a:b", "bad").name == "a:b"
    assert PayloadTooLarge(10, 5).size == 10
    assert ScheduleError("bad cron", "cronExpression").field == "cronExpression"
    assert isinstance(ScheduleError("x"), workflows.services.core.errors.CoreError)
