"""CLI commands that run services: `run SERVICE...` and `dev` (everything, embedded broker)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import socket
import time
from typing import Any

from services.infra.settings import Settings
from workflows.cli.failures import CliFailure
from workflows.runner import CONNECT_TIMEOUT_S, SERVICES, run_services

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
            os.environ.get("WORKFLOWS_WEBHOOK_SECRET", ""),
            connect_timeout_s=args.connect_timeout,
        )
    )
    return 0


def _dev_broker(stack: contextlib.ExitStack, kind: str, port: int | None) -> tuple[str, str]:
    """Start the dev broker: (bootstrap, what it is). Tansu by default, Apache Kafka on ask."""
    if kind == "kafka":
        from workflows.apache_kafka import KAFKA_VERSION, apache_kafka

        return stack.enter_context(apache_kafka(port)), f"Apache Kafka {KAFKA_VERSION}"
    from workflows.embedded import tansu

    return stack.enter_context(tansu(port)), "Tansu (embedded)"


def cmd_dev(args: argparse.Namespace) -> int:
    from workflows.embedded import redis_server

    _check_ports(_settings(args, auth="off"), trigger=True)
    if args.broker_port:
        check_port_free("127.0.0.1", args.broker_port, "the broker", "--broker-port")
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        bootstrap, broker = _dev_broker(stack, args.broker, args.broker_port)
        broker_s = time.monotonic() - started
        redis_url = args.redis_url or stack.enter_context(redis_server())
        # dev mode: no API keys (a production deployment keeps the default, WORKFLOWS_AUTH=on)
        settings = _settings(args, kafka_bootstrap=bootstrap, redis_url=redis_url, auth="off")
        print(
            f"broker {broker} at {bootstrap} (started in {broker_s:.1f} s; any Kafka client can "
            f"connect), redis {redis_url}, API http://{settings.http_host}:{settings.http_port}"
            " (dev mode: no API keys)",
            flush=True,
        )
        asyncio.run(run_services(SERVICES, settings))
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
    dev.set_defaults(handler=cmd_dev)
