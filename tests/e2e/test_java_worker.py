"""The seed runs with `sendPersonalizedEmail` served by the Java worker (kafka-clients)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_node_worker import SIGNED, WORKERS, run_seed, seed_stack

pytestmark = pytest.mark.e2e
JAVA_DIR = WORKERS / "java"
JAR = JAVA_DIR / "target" / "workflows-worker.jar"


def build_java_worker() -> Path:
    """The shaded jar, rebuilt (`mvn -q package`, ~/.m2 cached) only when a source is newer."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if java is None or mvn is None:
        pytest.skip("needs java and mvn")
    sources = [JAVA_DIR / "pom.xml", *(JAVA_DIR / "src" / "main").rglob("*.java")]
    newest = max(p.stat().st_mtime for p in sources)
    if not JAR.is_file() or JAR.stat().st_mtime < newest:
        subprocess.run(
            [mvn, "-q", "-B", "package", "-DskipTests"], cwd=JAVA_DIR, check=True, timeout=600
        )
    return JAR


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    jar = build_java_worker()
    worker = ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m", "-jar", str(jar)]
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, "java", worker, SIGNED) as url:
        yield url


@pytest.mark.timeout(300)
async def test_seed_runs_with_the_java_worker_sending_the_email(services: str) -> None:
    await run_seed(services, "java")
