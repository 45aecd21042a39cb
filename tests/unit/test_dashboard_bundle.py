"""The committed editor bundle is exactly what `services/trigger/editor-src` builds.

`make install` runs `npm ci` there; the build (esbuild, minified, no timestamps) is
deterministic, so a stale or hand-edited bundle fails here. `make dashboard-assets` rebuilds it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "services" / "trigger" / "editor-src"
DASHBOARD = ROOT / "services" / "trigger" / "dashboard"
BUILT = ("editor.bundle.js", "editor.bundle.LICENSES.txt")
NPM = shutil.which("npm")


@pytest.mark.skipif(
    NPM is None or not (SOURCE / "node_modules" / ".bin" / "esbuild").exists(),
    reason="npm packages of services/trigger/editor-src are not installed: make install",
)
def test_the_committed_bundle_is_what_the_source_builds(tmp_path: Path) -> None:
    assert NPM is not None
    work = tmp_path / "editor-src"
    work.mkdir()
    for name in ("package.json", "package-lock.json", "entry.js", "licenses.mjs"):
        shutil.copy(SOURCE / name, work / name)
    os.symlink(SOURCE / "node_modules", work / "node_modules")
    (tmp_path / "dashboard").mkdir()
    subprocess.run([NPM, "run", "--silent", "build"], cwd=work, check=True, timeout=120)
    for name in BUILT:
        fresh = (tmp_path / "dashboard" / name).read_bytes()
        assert fresh == (DASHBOARD / name).read_bytes(), f"{name} is stale: make dashboard-assets"


def test_the_bundle_exports_what_the_editor_imports() -> None:
    bundle = (DASHBOARD / "editor.bundle.js").read_text()
    exported = bundle.rsplit("export{", 1)[1]
    editor = (DASHBOARD / "pages" / "editor.js").read_text()
    used = {
        name
        for name in (
            "basicSetup",
            "EditorState",
            "EditorView",
            "Compartment",
            "keymap",
            "yaml",
            "json",
            "lintGutter",
            "setDiagnostics",
        )
        if f"CM.{name}" in editor
    }
    assert len(used) == 9
    for name in used:
        assert f" as {name}" in exported or f"{name}," in exported, name
