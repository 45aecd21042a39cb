"""Debian's headless Chromium driven by Playwright, for the dashboard's browser tests."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Error, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Debian's chromium is not installed ({CHROMIUM}): apt-get install -y chromium",
)


@asynccontextmanager
async def browser_page(
    width: int = 1440, height: int = 1000
) -> AsyncIterator[tuple[Page, list[str]]]:
    """A page of `width` x `height` in headless Chromium, and the script errors it reported.

    A console "Failed to load resource" is not an error here: the browser logs every 4xx answer
    (an optional API's 404, the 401 that brings up the login form) that way.
    """
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console: {message.text}")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error: {error}")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": width, "height": height})
            page = await context.new_page()
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.set_default_timeout(15_000)
            yield page, problems
        finally:
            await browser.close()


async def screenshot(page: Page, folder: Path, name: str, *, full_page: bool = True) -> None:
    """Save `folder/<name>.png` (the folder is made if missing)."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)
