"""CLI commands that run services: `run SERVICE...` and `dev` (everything, embedded broker)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import socket
import time
from pathlib import Path
from typing import Any

from workflows.cli.devstate import clear_running, default_data_dir, running_dev, write_running
from workflows.cli.failures import CliFailure
from workflows.runner import CONNECT_TIMEOUT_S, SERVICES, run_services
from workflows.services.infra.redis_client import safe_url
from workflows.services.infra.settings import Settings

__all__ = ["register"]


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if args.functions:
        values["functions_module"] = args.functions
    if getattr(args, "port", None):
        values["http_port"] = args.port
    if getattr(args, "metrics_port", None):
        values["metrics_port"] = args.metrics_port
    return Settings(**values)


def check_port_free(host: str, port: int, what: str, option: str) -> None:
    """CliFailure naming the port and the option to change it when something listens there."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise CliFailure(
                f"port {port} on {host} is already in use ({what}): stop what holds it "
                f"or pass {option} N"
            ) from None


def _check_ports(settings: Settings, trigger: bool) -> None:
    if trigger:
        check_port_free(settings.http_host, settings.http_port, "the HTTP API", "--port")
    if settings.metrics_port:
        check_port_free(settings.http_host, settings.metrics_port, "/metrics", "--metrics-port")


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _check_ports(settings, "trigger" in args.services)
    asyncio.run(
        run_services(
            args.services,
            settings,
            connect_timeout_s=args.connect_timeout,
        )
    )
    return 0


def _dev_broker(stack: contextlib.ExitStack, kind: str, port: int | None) -> tuple[str, str]:
    """Start the dev broker: (bootstrap, what it is). Tansu by default, Apache Kafka on ask."""
    if kind == "kafka":
        from workflows.testing.apache_kafka import KAFKA_VERSION, apache_kafka

        return stack.enter_context(apache_kafka(port)), f"Apache Kafka {KAFKA_VERSION}"
    from workflows.testing.embedded import tansu

    return stack.enter_context(tansu(port)), "Tansu (embedded)"


def _data_dir(args: argparse.Namespace) -> Path | None:
    """Where dev keeps Redis's data: --data-dir, else the user's data folder; None: ephemeral."""
    if args.ephemeral:
        if args.data_dir:
            raise CliFailure("--ephemeral keeps nothing: leave out --data-dir, or --ephemeral")
        return None
    folder = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    other = running_dev()
    if other is not None and other.get("dataDir") == str(folder.resolve()):
        raise CliFailure(
            f"a `workflows dev` (pid {other['pid']}) already runs on the data dir {folder}: "
            "stop it, or pass another --data-dir (or --ephemeral)"
        )
    return folder.resolve()


def cmd_dev(args: argparse.Namespace) -> int:
    from workflows.testing.embedded import redis_server

    _check_ports(_settings(args, auth="off"), trigger=True)
    if args.broker_port:
        check_port_free("127.0.0.1", args.broker_port, "the broker", "--broker-port")
    folder = _data_dir(args)
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        bootstrap, broker = _dev_broker(stack, args.broker, args.broker_port)
        broker_s = time.monotonic() - started
        redis_folder = folder / "redis" if folder is not None else None
        redis_url = args.redis_url or stack.enter_context(redis_server(folder=redis_folder))
        # dev mode: no API keys (a production deployment keeps the default, WORKFLOWS_AUTH=on)
        settings = _settings(args, kafka_bootstrap=bootstrap, redis_url=redis_url, auth="off")
        fetch = ""
        if args.broker != "kafka" and "WORKFLOWS_FETCH_MAX_WAIT_MS" not in os.environ:
            from workflows.testing.embedded import TANSU_FETCH_MAX_WAIT_MS

            settings = settings.model_copy(update={"fetch_max_wait_ms": TANSU_FETCH_MAX_WAIT_MS})
            fetch = f" WORKFLOWS_FETCH_MAX_WAIT_MS={TANSU_FETCH_MAX_WAIT_MS}"
        api_url = f"http://{settings.http_host}:{settings.http_port}"
        if args.redis_url:
            kept = f"state in the Redis at {safe_url(redis_url)}"
        elif folder is not None:
            kept = f"state kept in {folder} (Redis; the broker's messages are not kept)"
        else:
            kept = "nothing kept (--ephemeral)"
        print(
            f"broker {broker} at {bootstrap} (started in {broker_s:.1f} s; any Kafka client can "
            f"connect), redis {safe_url(redis_url)}, API {api_url} (dev mode: no API keys); "
            f"{kept}\n"
            "for a worker or another shell:\n"
            f"  export WORKFLOWS_KAFKA_BOOTSTRAP={bootstrap} WORKFLOWS_REDIS_URL={redis_url} "
            f"WORKFLOWS_API_URL={api_url}{fetch}",
            flush=True,
        )
        write_running(
            {
                "bootstrap": bootstrap,
                "redisUrl": redis_url,
                "apiUrl": api_url,
                "dataDir": str(folder) if folder is not None else None,
            }
        )
        stack.callback(clear_running)
        asyncio.run(run_services(SERVICES, settings, connect_timeout_s=args.connect_timeout))
    return 0


def _connect_timeout(parser: argparse.ArgumentParser) -> None:
    default = float(os.environ.get("WORKFLOWS_CONNECT_TIMEOUT_S", CONNECT_TIMEOUT_S))
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=default,
        metavar="S",
        help="at start, retry Redis and the broker for so long (env WORKFLOWS_CONNECT_TIMEOUT_S;"
        f" default {default:g})",
    )


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="run services (each can run as many replicas)")
    run.add_argument(
        "services",
        nargs="+",
        choices=SERVICES,
        metavar="SERVICE",
        help=f"one or more of: {', '.join(SERVICES)}",
    )
    run.add_argument(
        "--functions",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module's @function definitions (dispatcher/worker)",
    )
    run.add_argument("--port", type=int, help="HTTP port of the trigger service")
    run.add_argument(
        "--metrics-port", type=int, help="serve /metrics on this port (the trigger: on --port)"
    )
    _connect_timeout(run)
    run.set_defaults(handler=cmd_run)

    dev = commands.add_parser("dev", help="all services in one process with an embedded broker")
    dev.add_argument("--functions", action="append", default=[], metavar="MODULE")
    dev.add_argument("--port", type=int, help="HTTP port (default 8000)")
    dev.add_argument("--metrics-port", type=int, help="also serve /metrics on this port")
    dev.add_argument("--redis-url", help="use this Redis instead of starting one")
    dev.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default="tansu",
        help="tansu: embedded, no Java, starts at once (default); kafka: Apache Kafka "
        "(needs Java 17+, fetched by `make install`)",
    )
    dev.add_argument("--broker-port", type=int, help="broker port (default: a free one)")
    dev.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"keep Redis's data (definitions, executions, schedules, keys) here (default: "
        f"{default_data_dir()})",
    )
    dev.add_argument(
        "--ephemeral", action="store_true", help="keep nothing: a throwaway Redis (as before)"
    )
    _connect_timeout(dev)
    dev.set_defaults(handler=cmd_dev)
