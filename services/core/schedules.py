"""Schedule math, without I/O: cron and interval fire times in an explicit time zone, catch-up.

A schedule fires either on a cron expression or every fixed interval:

- `cronExpression`: 5 fields (`min hour day month weekday`) or 6 with **seconds first**
  (`sec min hour day month weekday`, as in Quartz/Spring/DBOS), evaluated as wall-clock time
  in `timezone` (IANA name, default UTC). Across a DST change a local time that does not
  exist fires at the first instant after the gap; a repeated local time fires once.
- `every`: a duration such as `"15m"`, `"1h30m"`, `"1s"`, `"2d"`, or in words (`"5 minutes"`,
  `"1 hour 30 minutes"`, `"every 2 days"`, `"1 week"`), at least one second, counted from
  `startAt` (or the creation time) in absolute time; or a calendar preset
  (`PRESETS`: `"$.Hourly"`, `"$.Daily"`, `"$.Weekly"`, `"$.Monthly"`), which is the cron
  expression it stands for in `timezone` (`$.Daily` fires at local midnight).

`startAt`/`endAt` bound the fire times (inclusive/exclusive). Fire times are aware datetimes;
`occurrence_id` makes a stable, URL-safe id of one (`sched-{scheduleId}-{YYYYmmddTHHMMSSZ}`).

Catch-up: an occurrence is *missed* when it is more than `grace` older than now (everything
was down, or the schedule could not fire). What happens to missed occurrences is the
schedule's `catchUp` policy; occurrences within the grace period always fire:

| catchUp | missed occurrences |
|---|---|
| `none` (default) | skipped |
| `last` | only the most recent one fires |
| `all` | every one fires, oldest first (at most `MAX_CATCH_UP`; older ones are skipped) |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from workflows.services.core.errors import CoreError

__all__ = [
    "LATEST",
    "MAX_CATCH_UP",
    "MAX_SCAN",
    "PRESETS",
    "CatchUp",
    "Due",
    "ScheduleError",
    "ScheduleSpec",
    "due_occurrences",
    "occurrence_id",
    "parse_interval",
]

CatchUp = Literal["none", "last", "all"]
MAX_CATCH_UP = 1000
MAX_SCAN = 100_000
_INTERVAL = re.compile(r"(\d+)\s*([a-z]+)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_WORDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "week", "weeks"), "w"),
}
PRESETS = {
    "$.Hourly": "0 * * * *",
    "$.Daily": "0 0 * * *",
    "$.Weekly": "0 0 * * 1",  # Monday, local midnight
    "$.Monthly": "0 0 1 * *",
}
_MAX_INTERVAL_S = 366 * 86400
# startAt/endAt and every fire time stay before this: far enough for any business, and far
# from datetime.max, where croniter's and timedelta's arithmetic overflows
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class ScheduleError(CoreError, ValueError):
    """A schedule that cannot work: bad cron expression, interval or time zone.

    `field` names the request field at fault (`cronExpression`, `startAt`, ...).
    """

    def __init__(self, message: str, field: str = "(body)") -> None:
        super().__init__(message)
        self.field = field


def _interval_error(text: str) -> ScheduleError:
    presets = ", ".join(PRESETS)
    return ScheduleError(
        f"invalid interval {text!r}: use a number and a unit (s, m, h, d, w or the words "
        f"seconds, minutes, hours, days, weeks), e.g. '15m', '1h30m', '5 minutes', "
        f"or one of {presets}",
        "every",
    )


def parse_interval(text: str) -> timedelta:
    """`"15m"` -> 15 minutes; parts may be combined (`"1h30m"`, `"1 hour and 30 minutes"`);
    `"every 5 minutes"` and a bare unit (`"hour"`, `"every day"`) work too; at least 1 s."""
    words = text.lower().replace(",", " ").split()
    if words[:1] == ["every"]:
        words = words[1:]
    words = [w for w in words if w != "and"]
    if len(words) == 1 and words[0] in ("second", "minute", "hour", "day", "week"):
        words = ["1", *words]  # "every hour"
    parts = _INTERVAL.findall("".join(words))
    if not parts or "".join(n + u for n, u in parts) != "".join(words):
        raise _interval_error(text)
    if any(u not in _UNIT_WORDS for _, u in parts):
        raise _interval_error(text)
    if any(len(n) > 9 for n, _ in parts):
        raise ScheduleError(f"invalid interval {text!r}: must be between 1s and 366d", "every")
    seconds = sum(int(n) * _UNITS[_UNIT_WORDS[u]] for n, u in parts)
    if not 1 <= seconds <= _MAX_INTERVAL_S:
        raise ScheduleError(f"invalid interval {text!r}: must be between 1s and 366d", "every")
    return timedelta(seconds=seconds)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r}: use an IANA name like 'Europe/Berlin'"
        raise ScheduleError(message, "timezone") from None


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ScheduleError(f"{field} must include a UTC offset or 'Z'", field)
    try:
        late = value >= LATEST
    except OverflowError:  # an offset that pushes it past datetime.max
        late = True
    if late:
        raise ScheduleError(f"{field} must be before {LATEST:%Y-%m-%d}", field)
    return value


def _repeated_wall_time(value: datetime, zone: ZoneInfo) -> bool:
    """True in the second pass of a local time that a DST change repeats."""
    first = value.replace(tzinfo=None).replace(tzinfo=zone, fold=0)
    return first.astimezone(UTC) < value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """When a schedule fires. Build with `ScheduleSpec.create` (validates)."""

    cron_expression: str | None
    every: timedelta | None
    timezone: ZoneInfo
    anchor: datetime
    start_at: datetime | None = None
    end_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        cron_expression: str | None = None,
        every: str | None = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        created_at: datetime | None = None,
    ) -> ScheduleSpec:
        """Validate and build; `created_at` anchors intervals when there is no `start_at`."""
        if (cron_expression is None) == (every is None):
            raise ScheduleError("give exactly one of cronExpression and every", "cronExpression")
        zone = _zone(timezone)
        if every is not None and every.startswith("$."):
            if every not in PRESETS:
                raise ScheduleError(
                    f"unknown schedule {every!r}: use one of {', '.join(PRESETS)}", "every"
                )
            cron_expression, every = PRESETS[every], None
        if cron_expression is not None:
            fields = len(cron_expression.split())
            if fields not in (5, 6) or not croniter.is_valid(
                cron_expression, second_at_beginning=fields == 6
            ):
                raise ScheduleError(
                    f"invalid cron expression {cron_expression!r}: use 5 fields "
                    "(min hour day month weekday) or 6 with seconds first",
                    "cronExpression",
                )
        interval = parse_interval(every) if every is not None else None
        start = _aware(start_at, "startAt") if start_at is not None else None
        end = _aware(end_at, "endAt") if end_at is not None else None
        if start is not None and end is not None and end <= start:
            raise ScheduleError("endAt must be after startAt", "endAt")
        anchor = (start or _aware(created_at or datetime.now(UTC), "createdAt")).replace(
            microsecond=0
        )
        spec = cls(cron_expression, interval, zone, anchor, start, end)
        if cron_expression is not None and spec.next_after(anchor) is None and end is None:
            raise ScheduleError(
                f"cron expression {cron_expression!r} never fires (no such date)", "cronExpression"
            )
        return spec

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after`, or None when the schedule has ended
        (past `endAt`, past `LATEST`, or a cron expression with no further date)."""
        try:
            found = self._next_after(after)
        except (CroniterBadDateError, OverflowError):
            return None
        if found >= LATEST or (self.end_at is not None and found >= self.end_at):
            return None
        return found

    def _next_after(self, after: datetime) -> datetime:
        if self.start_at is not None and after < self.start_at:
            after = self.start_at - timedelta(microseconds=1)
        if self.every is not None:
            elapsed = (after - self.anchor).total_seconds()
            step = self.every.total_seconds()
            count = int(elapsed // step) + 1 if elapsed >= 0 else 0
            found = (self.anchor + self.every * count).astimezone(self.timezone)
        else:
            assert self.cron_expression is not None
            six = len(self.cron_expression.split()) == 6
            cron = croniter(
                self.cron_expression, after.astimezone(self.timezone), second_at_beginning=six
            )
            found = cron.get_next(datetime)
            while _repeated_wall_time(found, self.timezone):  # fired in the first pass already
                found = cron.get_next(datetime)
        return found

    def first(self, now: datetime) -> datetime | None:
        """The first fire time at or after `now` (the next one of a new or resumed schedule)."""
        return self.next_after(now - timedelta(microseconds=1))

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        """The next `count` fire times after `after` (fewer when the schedule ends)."""
        if self.cron_expression is not None and count > 1:
            return self._cron_upcoming(after, count)
        out: list[datetime] = []
        current: datetime | None = after
        while current is not None and len(out) < count:
            current = self.next_after(current)
            if current is not None:
                out.append(current)
        return out

    def _cron_upcoming(self, after: datetime, count: int) -> list[datetime]:
        """`upcoming` for a cron expression with one croniter walked forward (a new one per
        fire time cost 0.2 ms: 100 times for 600 schedules was 13 s)."""
        assert self.cron_expression is not None
        first = self.next_after(after)
        if first is None:
            return []
        out = [first]
        cron = croniter(
            self.cron_expression,
            first.astimezone(self.timezone),
            second_at_beginning=len(self.cron_expression.split()) == 6,
        )
        try:
            while len(out) < count:
                found = cron.get_next(datetime)
                while _repeated_wall_time(found, self.timezone):
                    found = cron.get_next(datetime)
                if found >= LATEST or (self.end_at is not None and found >= self.end_at):
                    break
                out.append(found)
        except (CroniterBadDateError, OverflowError):
            pass  # no further date
        return out


@dataclass(frozen=True, slots=True)
class Due:
    """What to do at `now`: fire `fire` (oldest first), count `skipped`, then wait for `next`."""

    fire: tuple[datetime, ...]
    skipped: int
    next: datetime | None


def due_occurrences(
    spec: ScheduleSpec,
    next_fire: datetime | None,
    now: datetime,
    catch_up: CatchUp = "none",
    grace: timedelta = timedelta(seconds=60),
    limit: int = MAX_CATCH_UP,
) -> Due:
    """The occurrences from `next_fire` up to `now`, after the catch-up policy.

    Missed occurrences are enumerated up to `MAX_SCAN` (a 1s schedule that was down for a
    year is not walked one by one); beyond that the older ones are skipped without counting.
    """
    cutoff = now - grace
    missed: list[datetime] = []
    skipped = 0
    current = next_fire
    scanned = 0
    while current is not None and current < cutoff:
        missed.append(current)
        if len(missed) > limit:  # keep the newest `limit`; older ones are skipped
            missed.pop(0)
            skipped += 1
        scanned += 1
        if scanned >= MAX_SCAN:
            current = spec.next_after(cutoff - timedelta(microseconds=1))
            break
        current = spec.next_after(current)
    on_time: list[datetime] = []
    while current is not None and current <= now:
        on_time.append(current)
        current = spec.next_after(current)
    if catch_up == "all":
        keep = missed
    elif catch_up == "last":
        keep = missed[-1:]
    else:
        keep = []
    skipped += len(missed) - len(keep)
    return Due(tuple(keep + on_time), skipped, current)


def occurrence_id(schedule_id: str, fire_time: datetime) -> str:
    """The execution id of one occurrence: the same on every replica, URL-safe."""
    stamp = fire_time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"sched-{schedule_id}-{stamp}"
