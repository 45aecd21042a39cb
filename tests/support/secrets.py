"""An engine (tests.support.runtime) with function secrets from the environment and a file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.support.runtime import Engine, running_engine
from workflows.functions import FunctionRegistry
from workflows.services.infra.settings import Settings


@asynccontextmanager
async def engine_with_secrets(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: Mapping[str, str],
    file: Mapping[str, str],
) -> AsyncIterator[Engine]:
    """The engine with no in-process functions, `env` set and `file` as its secrets file."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps(dict(file)))
    configured = settings.model_copy(update={"secrets_file": str(secrets_file)})
    async with running_engine(configured, FunctionRegistry()) as running:
        yield running
