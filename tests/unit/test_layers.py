"""Imports point down: SDK (workflows) -> services -> contracts, and the core does no I/O.

    workflows      the SDK and CLI: may import services and contracts
    services       the engine's services (workflows.services); .functions runs Python functions
      core         pure: definitions, expressions, state transitions (no I/O libraries)
    contracts      the wire messages: imports nothing of the project above it (but its
                   schema generator, which reads the core's definition model)

Each rule fails on the first import that climbs (checked over every import in the files,
including those inside functions, with the graph of tests/unit/test_import_graph.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.test_import_graph import ROOT, python_graph

IO_LIBRARIES = ("aiokafka", "redis", "httpx", "confluent_kafka", "faststream", "socket")


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _climbs(source: str, forbidden: tuple[str, ...], but: tuple[str, ...] = ()) -> list[str]:
    graph = python_graph()
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _within(module, (source,))
        for target in targets
        if _within(target, forbidden) and not _within(target, but)
    )


def test_services_and_contracts_never_import_the_sdk() -> None:
    engine = ("workflows.services", "workflows.contracts")
    assert _climbs("workflows.services", ("workflows",), but=engine) == []
    # workflows.contracts.generate (`make contracts`) writes the definition's JSON Schema from the
    # core's model: a build tool beside the contracts, not something they import
    climbs = _climbs("workflows.contracts", ("workflows",), but=("workflows.contracts",))
    assert climbs == ["workflows.contracts.generate -> workflows.services.core.definition"]


def test_the_core_imports_no_io_library_and_no_service() -> None:
    assert (
        _climbs(
            "workflows.services.core",
            ("workflows.services.infra", "workflows.services.orchestrator"),
        )
        == []
    )
    found = []
    for path in (ROOT / "services" / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            found += [
                f"{Path(path).relative_to(ROOT)}: {n}"
                for n in names
                if n.split(".")[0] in IO_LIBRARIES
            ]
    assert found == []
