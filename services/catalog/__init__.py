"""The template marketplace: a catalog of tested business workflow templates."""

from workflows.services.catalog.catalog import (
    BUILTIN_DIR,
    Catalog,
    CatalogError,
    WorkflowTemplate,
    instantiate,
    load_catalog,
    search,
)

__all__ = [
    "BUILTIN_DIR",
    "Catalog",
    "CatalogError",
    "WorkflowTemplate",
    "instantiate",
    "load_catalog",
    "search",
]
