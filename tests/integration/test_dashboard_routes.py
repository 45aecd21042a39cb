"""The dashboard's static files: served by the trigger app, right content types, nothing external.

No broker is needed: the static routes touch neither Redis nor Kafka, so the lifespan is not run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator

import httpx
import pytest

from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app
from workflows.services.trigger.routes.dashboard import DASHBOARD_DIR

pytestmark = pytest.mark.integration

# (the SVG namespace URI names a namespace, it is never fetched: graph.js and CodeMirror use it)
EXTERNAL = re.compile(r"https?://(?!www\.w3\.org/2000/svg)|[\"'(=]\s*//[A-Za-z0-9]")
ASSETS = {
    "/dashboard/app.js": "text/javascript",
    "/dashboard/lib/api.js": "text/javascript",
    "/dashboard/pages/workflows.js": "text/javascript",
    "/dashboard/style.css": "text/css",
    "/dashboard/index.html": "text/html",
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", ["/", "/dashboard/"])
async def test_index_is_served_as_html(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/dashboard/app.js"></script>' in response.text
    assert 'href="/dashboard/style.css"' in response.text


async def test_dashboard_without_slash_redirects(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard/"


@pytest.mark.parametrize(("path", "media"), sorted(ASSETS.items()))
async def test_assets_have_their_content_type_and_no_external_urls(
    client: httpx.AsyncClient, path: str, media: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text.strip()
    found = [m.group(0) for m in EXTERNAL.finditer(response.text)]
    assert not found, f"{path} refers to another host: {found}"


async def test_every_file_referenced_by_the_page_is_served(client: httpx.AsyncClient) -> None:
    index = (await client.get("/")).text
    referenced = re.findall(r'(?:src|href)="(/[^"]*)"', index)
    assert set(referenced) == {"/dashboard/app.js", "/dashboard/style.css"}
    for path in referenced:
        assert (await client.get(path)).status_code == 200, path


def test_every_dashboard_file_ships_with_the_package() -> None:
    # pyproject's package-data globs do not recurse: each folder of the dashboard has its own
    services = DASHBOARD_DIR.parents[1]
    pyproject = tomllib.loads((services.parent / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["workflows.services"]
    shipped = {p for pattern in globs for p in services.glob(pattern) if p.is_file()}
    entries = [p for p in DASHBOARD_DIR.rglob("*") if p.is_file()]
    names = {p.relative_to(DASHBOARD_DIR).as_posix() for p in entries}
    assert names >= {"index.html", "app.js", "style.css", "lib/api.js", "pages/workflows.js"}
    assert not [p for p in entries if p not in shipped], "add the folder to package-data"
    for path in entries:
        assert not EXTERNAL.search(path.read_text()), path.name


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/missing.js",
        "/dashboard/../app.py",
        "/dashboard/%2e%2e/app.py",
        "/dashboard/..%2fapp.py",
        "/dashboard/%2e%2e/%2e%2e/pyproject.toml",
    ],
)
async def test_unknown_files_and_escapes_are_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "error" in response.json()


async def test_dashboard_is_not_part_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/dashboard")]
    # the page shows "No schedules API yet" from a JSON 404 like this one
    missing = await client.get("/schedules-not-an-api")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found"}
