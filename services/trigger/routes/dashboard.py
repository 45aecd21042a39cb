"""The web dashboard: a static single-page app served from `services/trigger/dashboard/`.

`/` and `/dashboard/` answer with `index.html`; `/dashboard/<file>` serves the app's assets.
Everything is local (no CDN, no build step); the page talks to the JSON API of this app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from workflows.services.trigger.deps import ApiProblem

__all__ = ["DASHBOARD_DIR", "router"]

DASHBOARD_DIR = Path(__file__).resolve().parents[1] / "dashboard"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# The page polls the API; its own files change only with a deploy, but revalidate each load.
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = (DASHBOARD_DIR / name).resolve()
    media = MEDIA_TYPES.get(path.suffix)
    if media is None or not path.is_relative_to(DASHBOARD_DIR) or not path.is_file():
        raise ApiProblem(404, f"dashboard file '{name}' not found")
    return FileResponse(path, media_type=media, headers=HEADERS)


@router.get("/")
async def index() -> FileResponse:
    return _file("index.html")


@router.get("/dashboard")
async def dashboard_redirect() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/")
async def dashboard_index() -> FileResponse:
    return _file("index.html")


@router.get("/dashboard/{name:path}")
async def asset(name: str) -> FileResponse:
    return _file(name)
