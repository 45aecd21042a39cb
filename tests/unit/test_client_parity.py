"""`Workflows` and `AsyncWorkflows` offer the same calls with the same parameters (issue 18,
item 6): a method added to one and not the other, or a parameter that differs in name, kind or
default, fails here. Their return annotations differ only by the coroutine."""

from __future__ import annotations

import inspect
from typing import Any

from workflows.client import AsyncWorkflows, Workflows

CLOSERS = {"close": "aclose"}  # the only pair that is named apart, as httpx names them


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(cls, name))
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def _shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_the_sync_and_async_clients_have_the_same_methods_and_parameters() -> None:
    sync, asynchronous = _public(Workflows), _public(AsyncWorkflows)
    renamed = {CLOSERS.get(name, name): sig for name, sig in sync.items()}
    assert sorted(renamed) == sorted(asynchronous)
    differ = {
        name: (str(sig), str(asynchronous[name]))
        for name, sig in renamed.items()
        if _shape(sig) != _shape(asynchronous[name])
    }
    assert not differ, differ


def test_every_async_call_is_a_coroutine_function() -> None:
    for name in _public(AsyncWorkflows):
        method = getattr(AsyncWorkflows, name)
        if name not in {"__aenter__", "__aexit__"}:
            assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name
