"""Schedule bodies of the HTTP API (camelCase on the wire) and the stored schedule document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, ConfigDict, Field

from workflows.contracts import TriggerSchedule
from workflows.services.core.definition import WORKFLOW_NAME_PATTERN, Notifications
from workflows.services.core.schedules import CatchUp, ScheduleSpec
from workflows.services.trigger.schemas import ApiModel

__all__ = [
    "SCHEDULE_ID_PATTERN",
    "ScheduleRecord",
    "ScheduleRequest",
    "ScheduleView",
    "notification_lists",
]

SCHEDULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# stored ids of a namespace other than `default` are qualified: `<namespace>~<id>`
STORED_SCHEDULE_ID_PATTERN = r"^(?:[a-z0-9][a-z0-9-]{0,62}~)?[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class ScheduleRequest(ApiModel):
    """`POST /schedules`: what to start and when (exactly one of cronExpression and every)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(
        default=None, pattern=SCHEDULE_ID_PATTERN, description="default: a random id"
    )
    workflow: str = Field(pattern=WORKFLOW_NAME_PATTERN)
    cron_expression: str | None = Field(
        default=None, max_length=200, description="5 fields, or 6 with seconds first"
    )
    every: str | None = Field(
        default=None,
        max_length=50,
        description="an interval ('15m', '1h30m', '5 minutes') or $.Hourly, $.Daily, $.Weekly, "
        "$.Monthly",
    )
    timezone: str = Field(default="UTC", max_length=100, description="IANA time zone")
    input: dict[str, Any] = Field(default_factory=dict)
    notifications: Notifications | None = None
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None
    catch_up: CatchUp = "none"
    run_immediately: bool = Field(
        default=False, description="also fire once when created (when enabled)"
    )
    enabled: bool = Field(default=True, description="false: created paused")


class ScheduleRecord(ScheduleRequest):
    """The stored schedule: the request plus its id and creation time (anchors intervals)."""

    id: str = Field(pattern=STORED_SCHEDULE_ID_PATTERN)
    created_at: AwareDatetime
    created_by: str | None = None

    def spec(self) -> ScheduleSpec:
        return ScheduleSpec.create(
            cron_expression=self.cron_expression,
            every=self.every,
            timezone=self.timezone,
            start_at=self.start_at,
            end_at=self.end_at,
            created_at=self.created_at,
        )

    def occurrence(self, fire_time: datetime) -> TriggerSchedule:
        """This schedule's occurrence at `fire_time` (`{{trigger.schedule.*}}`)."""
        return TriggerSchedule(
            id=self.id,
            scheduled_at=fire_time,
            cron_expression=self.cron_expression,
            every=self.every,
            timezone=self.timezone,
        )


class ScheduleView(ScheduleRecord):
    """A schedule as `GET /schedules` shows it, with the next fire times in its time zone."""

    paused: bool = False
    next_fire_times: list[datetime] = Field(default_factory=list)
    fired: int = 0
    skipped: int = 0
    last_fire_time: str | None = None
    last_execution_id: str | None = None


def notification_lists(notifications: Notifications | None) -> dict[str, list[str]] | None:
    """`{onStart: [...], ...}` without empty lists, as StartExecution carries it."""
    if notifications is None:
        return None
    wire = notifications.model_dump(by_alias=True)
    return {k: list(v) for k, v in wire.items() if v} or None
