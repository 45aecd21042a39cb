"""Configuration, read once from the environment (prefix `WORKFLOWS_`); tests pass values."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WORKFLOWS_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    log_level: str = "INFO"
    redis_url: str = "redis://127.0.0.1:6379/0"
    topic_prefix: str = ""
    key_prefix: str = "wf"
    partitions: int = Field(default=8, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int | None = Field(
        default=None, ge=1, description="topic config min.insync.replicas; None = broker default"
    )
    fetch_max_wait_ms: int = Field(
        default=500,
        ge=0,
        description="how long the broker may hold a fetch that found nothing; Apache Kafka "
        "answers as soon as a record arrives, so this only sets the idle polling rate "
        "(Tansu holds every fetch this long: `workflows dev` uses 5 there)",
    )
    trace_url: str = Field(
        default="",
        description="a trace viewer's URL with {traceId}, e.g. "
        "http://jaeger:16686/trace/{traceId}: the execution page links its trace there",
    )
    local_handoff: bool = Field(
        default=False,
        description="an orchestrator and a dispatcher in one process (`workflows run "
        "orchestrator dispatcher`) hand commands and results over in memory as well as "
        "through Kafka (the Kafka copies are recognized and dropped); off by default: "
        "measured, a serial hop gains 0-25 % for ~10 % more CPU per hop (bench/NOTES.md)",
    )
    commit_interval_ms: int = Field(
        default=50, ge=0, description="offsets of done batches are committed this often"
    )
    session_timeout_ms: int = Field(
        default=10_000, ge=1000, description="a silent consumer loses its partitions after this"
    )
    max_batch: int = Field(default=500, ge=1)
    max_in_flight: int = Field(default=32, ge=1, description="executions applied concurrently")
    redis_max_connections: int = Field(default=64, ge=4)
    redis_failover_s: float = Field(default=10.0, gt=0, description="cluster: retry for so long")
    redis_wait_replicas: int = Field(default=0, ge=0, description="WAIT for so many replicas")
    redis_wait_timeout_ms: int = Field(default=100, ge=1, description="...for at most so long")
    drain_timeout_s: float = Field(
        default=30.0, ge=0, description="on SIGTERM, in-flight function calls get this long"
    )
    max_calls_in_flight: int = Field(
        default=64, ge=1, description="dispatcher/worker: step commands run at once"
    )
    park_min_ms: int = Field(default=100, ge=1, description="a command without a slot waits...")
    park_max_ms: int = Field(default=1000, ge=1, description="...between so long and so long")
    timer_poll_ms: int = Field(default=50, ge=5)
    timer_lease_ms: int = Field(default=30_000, ge=100)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    metrics_port: int = Field(default=0, ge=0, description="/metrics port; 0 = off")
    wait_timeout_s: float = Field(default=30.0, gt=0)
    signal_buffer_s: float = Field(default=300.0, ge=0, description="early signals kept, s")
    max_message_bytes: int = 1_000_000
    payload_inline_max_bytes: int = Field(
        default=64 * 1024, ge=1024, description="larger step inputs/outputs go by reference"
    )
    payload_max_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="larger step inputs/outputs fail the step"
    )
    functions_module: list[str] = Field(default_factory=list)
    http_function_timeout_ms: int = 10_000
    secrets_file: str = Field(default="", description="JSON object for ${secret:NAME} headers")
    auth: Literal["on", "off"] = Field(
        default="on", description="API keys required on the HTTP API (`workflows dev`: off)"
    )
    dashboard_url: str = "http://127.0.0.1:8000"
    webhook_urls: list[str] = Field(default_factory=list)
    webhook_secret: str = Field(default="", description="HMAC key signing webhooks; '': unsigned")
    notify_concurrency: int = Field(default=32, ge=1, description="notifier: deliveries at once")
    step_concurrency: int = Field(
        default=64, ge=1, description="dispatcher, worker: step commands run at once"
    )
    http_functions_refresh_s: float = Field(
        default=5.0, gt=0, description="dispatcher: how often HTTP function registrations are read"
    )
    worker_id: str = Field(
        default="", description="dispatcher, worker: this replica's id; '': <service>-<host>-<pid>"
    )
    notify_max_pending: int = Field(
        default=1000, ge=1, description="notifier: deliveries queued before it stops consuming"
    )
    notify_attempts: int = Field(default=4, ge=1, description="notifier: tries per delivery")
    notify_backoff_s: float = Field(default=0.5, ge=0, description="...first wait, then doubled")
    notify_timeout_s: float = Field(default=10.0, gt=0, description="...each try's timeout")
    notify_drain_s: float = Field(
        default=5.0, ge=0, description="notifier: on stop, running deliveries get so long"
    )
    catalog_dirs: list[str] = Field(default_factory=list, description="extra template folders")
    state_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    results_ttl_s: int = Field(
        default=24 * 3600, ge=60, description="a step attempt's result, kept for duplicates"
    )
    scheduler_poll_ms: int = Field(default=200, ge=10, description="schedule due-check period")
    schedule_grace_s: float = Field(default=60.0, ge=0, description="later than this is missed")
    event_topics: dict[str, str] = Field(
        default_factory=dict, description='topic -> event type, or "" for enveloped events'
    )
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "workflows@localhost"
    signing_key: str = Field(
        default="",
        description="HMAC key every produced record is signed with (header wf-signature); "
        "when set, step commands, step results and the orchestrator's inputs without a valid "
        "signature go to the DLQ (docs/worker-protocol.md)",
    )
    signing_keys_previous: list[str] = Field(
        default_factory=list, description="older keys still accepted while producers rotate"
    )
