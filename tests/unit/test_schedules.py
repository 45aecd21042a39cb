"""Pure schedule math: cron and intervals in a time zone, DST, bounds, catch-up, ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.services.core.schedules import (
    ScheduleError,
    ScheduleSpec,
    due_occurrences,
    occurrence_id,
    parse_interval,
)

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1h 5s", 3605), ("90S", 90)],
)
def test_intervals_parse(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "1x", "0s", "1.5m", "-1m", "400d", "15m!"])
def test_bad_intervals_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_interval(text)


def test_the_seed_cron_fires_at_midnight_of_each_quarter_in_its_time_zone() -> None:
    spec = ScheduleSpec.create(cron_expression="0 0 1 1,4,7,10 *", timezone="Europe/Berlin")
    times = spec.upcoming(datetime(2030, 2, 1, tzinfo=BERLIN), 4)
    assert [t.isoformat() for t in times] == [
        "2030-04-01T00:00:00+02:00",
        "2030-07-01T00:00:00+02:00",
        "2030-10-01T00:00:00+02:00",
        "2031-01-01T00:00:00+01:00",
    ]


def test_six_fields_put_seconds_first() -> None:
    spec = ScheduleSpec.create(cron_expression="*/15 * * * * *")
    assert spec.upcoming(utc(2030, 1, 1, 0, 0, 1), 3) == [
        utc(2030, 1, 1, 0, 0, 15),
        utc(2030, 1, 1, 0, 0, 30),
        utc(2030, 1, 1, 0, 0, 45),
    ]


def test_dst_gap_fires_after_the_gap_and_repeated_hour_fires_once() -> None:
    spec = ScheduleSpec.create(cron_expression="30 2 * * *", timezone="Europe/Berlin")
    spring = spec.next_after(datetime(2030, 3, 31, 0, 0, tzinfo=BERLIN))  # 02:30 does not exist
    assert spring is not None and spring.astimezone(UTC) == utc(2030, 3, 31, 1, 0)
    autumn = spec.upcoming(datetime(2030, 10, 27, 0, 0, tzinfo=BERLIN), 2)
    assert [t.astimezone(UTC) for t in autumn] == [
        utc(2030, 10, 27, 0, 30),
        utc(2030, 10, 28, 1, 30),
    ]


def test_intervals_count_from_start_at_and_stop_before_end_at() -> None:
    spec = ScheduleSpec.create(
        every="15m", start_at=utc(2030, 1, 1, 0, 5), end_at=utc(2030, 1, 1, 1)
    )
    assert spec.first(utc(2029, 12, 31)) == utc(2030, 1, 1, 0, 5)
    assert spec.upcoming(utc(2030, 1, 1, 0, 10), 10) == [
        utc(2030, 1, 1, 0, 20),
        utc(2030, 1, 1, 0, 35),
        utc(2030, 1, 1, 0, 50),
    ]
    assert spec.next_after(utc(2030, 1, 1, 0, 50)) is None


def test_without_start_at_intervals_count_from_creation_in_whole_seconds() -> None:
    spec = ScheduleSpec.create(every="10s", created_at=utc(2030, 1, 1) + timedelta(microseconds=5))
    assert spec.first(utc(2030, 1, 1, 0, 0, 1)) == utc(2030, 1, 1, 0, 0, 10)


def test_cron_respects_start_at() -> None:
    spec = ScheduleSpec.create(cron_expression="0 * * * *", start_at=utc(2030, 1, 1, 5, 30))
    assert spec.first(utc(2030, 1, 1)) == utc(2030, 1, 1, 6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"cron_expression": "* * * * *", "every": "1m"},
        {"cron_expression": "not a cron"},
        {"cron_expression": "* * * *"},
        {"cron_expression": "61 * * * *"},
        {"every": "1m", "timezone": "Nowhere/City"},
        {"every": "1m", "start_at": datetime(2030, 1, 1)},
        {"every": "1m", "start_at": utc(2030, 1, 2), "end_at": utc(2030, 1, 1)},
    ],
)
def test_invalid_specs_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ScheduleError):
        ScheduleSpec.create(**kwargs)  # type: ignore[arg-type]


HOURLY = ScheduleSpec.create(cron_expression="0 * * * *", start_at=T0)


@pytest.mark.parametrize(
    ("catch_up", "fired", "skipped"),
    [
        ("none", [utc(2030, 1, 1, 5)], 5),
        ("last", [utc(2030, 1, 1, 4), utc(2030, 1, 1, 5)], 4),
        ("all", [utc(2030, 1, 1, h) for h in range(6)], 0),
    ],
)
def test_catch_up_policies(catch_up: str, fired: list[datetime], skipped: int) -> None:
    """Next was 00:00; now it is 05:00:30 with a 60 s grace: 00:00-04:00 missed, 05:00 on time."""
    due = due_occurrences(HOURLY, T0, utc(2030, 1, 1, 5, 0, 30), catch_up, timedelta(seconds=60))  # type: ignore[arg-type]
    assert list(due.fire) == fired
    assert due.skipped == skipped
    assert due.next == utc(2030, 1, 1, 6)


def test_nothing_due_before_the_next_fire_time() -> None:
    due = due_occurrences(HOURLY, T0, utc(2029, 12, 31, 23, 59), "all")
    assert due.fire == () and due.skipped == 0 and due.next == T0


def test_late_within_grace_always_fires() -> None:
    due = due_occurrences(HOURLY, T0, utc(2030, 1, 1, 0, 0, 59), "none", timedelta(seconds=60))
    assert due.fire == (T0,) and due.skipped == 0


def test_catch_up_all_is_bounded() -> None:
    every_second = ScheduleSpec.create(every="1s", start_at=T0)
    due = due_occurrences(every_second, T0, T0 + timedelta(hours=1), "all", timedelta(0), limit=10)
    assert len(due.fire) == 11  # the newest 10 missed ones, then the on-time one
    assert due.fire[-1] == T0 + timedelta(hours=1) and due.skipped == 3600 - 10


def test_a_year_of_one_second_occurrences_is_not_walked_one_by_one() -> None:
    every_second = ScheduleSpec.create(every="1s", start_at=T0)
    now = T0 + timedelta(days=365)
    due = due_occurrences(every_second, T0, now, "none", timedelta(seconds=5))
    assert due.fire[0] >= now - timedelta(seconds=5) and due.next == now + timedelta(seconds=1)


def test_an_ended_schedule_has_no_next() -> None:
    spec = ScheduleSpec.create(every="1h", start_at=T0, end_at=T0 + timedelta(hours=2))
    due = due_occurrences(spec, T0, T0 + timedelta(hours=5), "all", timedelta(0))
    assert due.fire == (T0, T0 + timedelta(hours=1)) and due.next is None


def test_occurrence_ids_are_stable_and_url_safe() -> None:
    local = datetime(2030, 4, 1, tzinfo=BERLIN)
    assert occurrence_id("quarterly", local) == "sched-quarterly-20300331T220000Z"
    assert occurrence_id("quarterly", local.astimezone(UTC)) == occurrence_id("quarterly", local)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5 minutes", 300),
        ("every 5 minutes", 300),
        ("1 hour and 30 minutes", 5400),
        ("1 hour, 30 mins", 5400),
        ("every hour", 3600),
        ("every day", 86400),
        ("2 weeks", 14 * 86400),
        ("30 seconds", 30),
        ("1h 30m", 5400),
        ("15m", 900),
    ],
)
def test_intervals_in_words(text: str, seconds: int) -> None:
    assert parse_interval(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["5 fortnights", "minutes 5", "every", "5", "1 month"])
def test_words_that_are_not_intervals_name_every(text: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_interval(text)
    assert info.value.field == "every" and "5 minutes" in str(info.value)


@pytest.mark.parametrize(
    ("preset", "hour", "minute", "weekday", "day"),
    [
        ("$.Hourly", None, 0, None, None),
        ("$.Daily", 0, 0, None, None),
        ("$.Weekly", 0, 0, 0, None),
        ("$.Monthly", 0, 0, None, 1),
    ],
)
def test_presets_are_local_calendar_times(
    preset: str, hour: int | None, minute: int, weekday: int | None, day: int | None
) -> None:
    spec = ScheduleSpec.create(every=preset, timezone="America/New_York")
    times = spec.upcoming(datetime(2026, 3, 1, tzinfo=UTC), 5)
    assert len(times) == 5
    for t in times:
        local = t.astimezone(ZoneInfo("America/New_York"))
        assert local.minute == minute and (hour is None or local.hour == hour)
        assert weekday is None or local.weekday() == weekday
        assert day is None or local.day == day


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(ScheduleError, match=r"unknown schedule '\$.Yearly'"):
        ScheduleSpec.create(every="$.Yearly")
