"""What several CLI modules share, below all of them (it imports no other CLI module but
`devstate`): the trigger's default URL."""

from __future__ import annotations

from workflows.cli.devstate import api_url_default

__all__ = ["DEFAULT_URL"]

DEFAULT_URL = api_url_default()  # WORKFLOWS_API_URL, a running `workflows dev`, or :8000
