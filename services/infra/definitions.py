"""Compiled workflow definitions by (name, version), cached: registered versions never change."""

from __future__ import annotations

import json

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.validation import compile_workflow
from workflows.services.infra.store import StateStore

__all__ = ["DefinitionCache"]


class DefinitionCache:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, int], CompiledWorkflow] = {}

    def cached(self, name: str, version: int) -> CompiledWorkflow | None:
        """The version if it was compiled already (no I/O)."""
        return self._cache.get((name, version))

    async def get(self, name: str, version: int | None = None) -> CompiledWorkflow | None:
        if version is not None and (name, version) in self._cache:
            return self._cache[(name, version)]
        found = await self.store.get_definition(name, version)
        if found is None:
            return None
        number, doc = found
        cached = self._cache.get((name, number))
        if cached is None:
            cached = compile_workflow(json.loads(doc), version=number)
            self._cache[(name, number)] = cached
        return cached
