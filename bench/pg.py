"""A throwaway PostgreSQL server for the DBOS peer: initdb + postgres on a free loopback port.

Debian's `postgresql` package (/usr/lib/postgresql/<major>/bin) is used; PostgreSQL refuses to
run as root, so when the benchmark runs as root the data folder is given to the `postgres`
user and the server runs as that user. Nothing assumes a server already running.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from workflows.testing.embedded import free_port

__all__ = ["PgServer", "pg_bin", "postgres_server"]


def pg_bin() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin holding initdb (or initdb on PATH)."""
    roots = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for root in reversed(roots):
        if (root / "initdb").exists():
            return root
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")


@dataclass
class PgServer:
    url: str  # the `postgres` database as superuser `postgres`
    port: int
    pid: int
    folder: Path

    def url_for(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{database}"

    def pids(self) -> list[int]:
        """The postmaster and its backends (connections come and go: read at call time)."""
        try:
            proc = psutil.Process(self.pid)
            return [self.pid, *(c.pid for c in proc.children(recursive=True))]
        except psutil.Error:
            return []

    def facts(self) -> dict[str, str]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            out = {}
            for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method"):
                row = conn.execute(f"show {name}").fetchone()
                out[name] = str(row[0]) if row else "?"
        return {
            "version": out["server_version"],
            "synchronous_commit": out["synchronous_commit"],
            "fsync": out["fsync"],
            "wal_sync_method": out["wal_sync_method"],
        }


def _as_user() -> dict[str, object]:
    """Popen arguments that drop to the `postgres` user when running as root."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgres_server(max_connections: int = 200, log_path: Path | None = None) -> Iterator[PgServer]:
    """initdb a fresh cluster in a temporary folder, start it, yield it, stop it."""
    binaries = pg_bin()
    port = free_port()
    drop = _as_user()
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        base = Path(tmp)
        data, sockets = base / "data", base / "sock"
        sockets.mkdir()
        if drop:
            for path in (base, sockets):
                os.chown(path, int(drop["user"]), int(drop["group"]))  # type: ignore[call-overload]
        subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            **drop,  # type: ignore[arg-type]
        )
        log = (log_path or base / "postgres.log").open("ab")
        proc = subprocess.Popen(
            [
                str(binaries / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"max_connections={max_connections}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            **drop,  # type: ignore[arg-type]
        )
        log.close()
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"postgres exited with code {proc.returncode}")
                try:
                    with psycopg.connect(url, connect_timeout=2) as conn:
                        conn.execute("select 1")
                    break
                except psycopg.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield PgServer(url, port, proc.pid, data)
        finally:
            proc.send_signal(signal.SIGINT)  # fast shutdown (SIGTERM waits for clients)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
