"""When a recurring maintenance window falls: weekly and daily, in local time, across the
nights clocks change (Europe/Berlin) and in a zone without summer time (Asia/Shanghai);
what is refused, in words a user knows."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from villagewatch.alerts.recurrence import Recurrence, RecurrenceInvalid, parse_clock, parse_days

BERLIN, SHANGHAI = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Shanghai")
HOUR = 3_600_000


def ms(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=zone).timestamp() * 1000)


def local(zone: ZoneInfo, window: tuple[int, int] | None) -> tuple[str, str] | None:
    if window is None:
        return None
    a, b = (datetime.fromtimestamp(x / 1000, zone).isoformat() for x in window)
    return a, b


def rec(days: str, at: str, hours: float, zone: str, until: date | None = None) -> Recurrence:
    return Recurrence(parse_days(days), parse_clock(at), int(hours * HOUR), zone, until)


@pytest.mark.parametrize(
    ("days", "at", "hours", "zone", "now", "expected"),
    [
        pytest.param(
            "tue",
            "09:00",
            2,
            "Europe/Berlin",
            (2026, 12, 6, 12, 0),
            ("2026-12-08T09:00:00+01:00", "2026-12-08T11:00:00+01:00"),
            id="weekly-the-next-tuesday",
        ),
        pytest.param(
            "tue",
            "09:00",
            2,
            "Europe/Berlin",
            (2026, 12, 8, 10, 30),
            ("2026-12-08T09:00:00+01:00", "2026-12-08T11:00:00+01:00"),
            id="weekly-the-window-in-progress",
        ),
        pytest.param(
            "tue",
            "09:00",
            2,
            "Europe/Berlin",
            (2026, 12, 8, 11, 0),
            ("2026-12-15T09:00:00+01:00", "2026-12-15T11:00:00+01:00"),
            id="weekly-its-end-is-outside",
        ),
        pytest.param(
            "tue,fri",
            "09:00",
            2,
            "Europe/Berlin",
            (2026, 12, 9, 0, 0),
            ("2026-12-11T09:00:00+01:00", "2026-12-11T11:00:00+01:00"),
            id="two-days-a-week",
        ),
        pytest.param(
            "daily",
            "23:00",
            3,
            "Asia/Shanghai",
            (2026, 12, 7, 1, 0),
            ("2026-12-06T23:00:00+08:00", "2026-12-07T02:00:00+08:00"),
            id="daily-across-midnight-in-progress",
        ),
        pytest.param(
            "daily",
            "09:00",
            2,
            "Europe/Berlin",
            (2026, 3, 29, 0, 0),
            ("2026-03-29T09:00:00+02:00", "2026-03-29T11:00:00+02:00"),
            id="berlin-spring-day-wall-clock-kept",
        ),
        pytest.param(
            "daily",
            "02:30",
            1,
            "Europe/Berlin",
            (2026, 3, 29, 0, 0),
            ("2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"),
            id="berlin-start-in-the-skipped-hour-falls-as-late-as-the-jump",
        ),
        pytest.param(
            "daily",
            "02:30",
            1,
            "Europe/Berlin",
            (2026, 10, 25, 0, 0),
            ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"),
            id="berlin-start-in-the-repeated-hour-is-the-first-and-lasts-one-hour",
        ),
        pytest.param(
            "sun",
            "01:00",
            4,
            "Europe/Berlin",
            (2026, 10, 24, 0, 0),
            ("2026-10-25T01:00:00+02:00", "2026-10-25T04:00:00+01:00"),
            id="berlin-a-window-over-the-autumn-change-lasts-its-hours",
        ),
        pytest.param(
            "sun",
            "01:00",
            4,
            "Europe/Berlin",
            (2026, 3, 28, 0, 0),
            ("2026-03-29T01:00:00+01:00", "2026-03-29T06:00:00+02:00"),
            id="berlin-a-window-over-the-spring-change-lasts-its-hours",
        ),
        pytest.param(
            "daily",
            "02:30",
            1,
            "Asia/Shanghai",
            (2026, 3, 29, 0, 0),
            ("2026-03-29T02:30:00+08:00", "2026-03-29T03:30:00+08:00"),
            id="shanghai-has-no-summer-time",
        ),
        pytest.param(
            "周二",
            "09:00",
            2,
            "Asia/Shanghai",
            (2026, 12, 6, 12, 0),
            ("2026-12-08T09:00:00+08:00", "2026-12-08T11:00:00+08:00"),
            id="a-chinese-day-name",
        ),
    ],
)
def test_the_window_in_force_or_next(
    days: str, at: str, hours: float, zone: str, now: tuple[int, ...], expected: tuple[str, str]
) -> None:
    r = rec(days, at, hours, zone)
    tz = ZoneInfo(zone)
    assert local(tz, r.next_window(ms(tz, *now))) == expected


def test_in_force_only_inside_a_window() -> None:
    r = rec("tue", "09:00", 2, "Europe/Berlin")
    assert r.window_at(ms(BERLIN, 2026, 12, 8, 8, 59)) is None
    assert r.window_at(ms(BERLIN, 2026, 12, 8, 9, 0)) is not None
    assert r.window_at(ms(BERLIN, 2026, 12, 8, 10, 59)) is not None
    assert r.window_at(ms(BERLIN, 2026, 12, 8, 11, 0)) is None
    assert r.window_at(ms(BERLIN, 2026, 12, 9, 10, 0)) is None  # a Wednesday


def test_until_is_the_last_day_a_window_starts_and_runs_its_full_length() -> None:
    r = rec("daily", "23:00", 2, "Asia/Shanghai", until=date(2026, 12, 31))
    last = r.next_window(ms(SHANGHAI, 2026, 12, 31, 12, 0))
    assert local(SHANGHAI, last) == ("2026-12-31T23:00:00+08:00", "2027-01-01T01:00:00+08:00")
    assert r.window_at(ms(SHANGHAI, 2027, 1, 1, 0, 30)) is not None
    assert r.next_window(ms(SHANGHAI, 2027, 1, 1, 1, 0)) is None


def test_a_whole_year_of_berlin_tuesdays_starts_at_nine_by_the_wall_clock() -> None:
    r = rec("tue", "09:00", 2, "Europe/Berlin")
    windows = r.windows(ms(BERLIN, 2026, 1, 1, 0, 0))
    year = [next(windows) for _ in range(52)]
    starts = {datetime.fromtimestamp(a / 1000, BERLIN).strftime("%a %H:%M") for a, _ in year}
    assert starts == {"Tue 09:00"}
    assert {b - a for a, b in year} == {2 * HOUR}


def test_stored_and_read_back_unchanged() -> None:
    r = rec("mon,thu", "06:15", 1.5, "Europe/Berlin", until=date(2027, 6, 30))
    assert Recurrence.from_json(r.to_json()) == r
    assert r.describe() == "Monday, Thursday 06:15 for 1.5 h (Europe/Berlin) until 2027-06-30"


@pytest.mark.parametrize(
    ("days", "at", "hours", "zone", "message"),
    [
        pytest.param("tuesdy", "09:00", 2, "Asia/Shanghai", "'tuesdy' is not a day of the week",
                     id="a-day-that-does-not-exist"),
        pytest.param("", "09:00", 2, "Asia/Shanghai", "name the days", id="no-day"),
        pytest.param("daily,mon", "09:00", 2, "Asia/Shanghai", "say daily alone",
                     id="daily-and-a-day"),
        pytest.param("tue", "9", 2, "Asia/Shanghai", "'9' is not HH:MM", id="time-without-minutes"),
        pytest.param("tue", "24:00", 2, "Asia/Shanghai", "is not HH:MM", id="hour-24"),
        pytest.param("tue", "09:60", 2, "Asia/Shanghai", "is not HH:MM", id="minute-60"),
        pytest.param("tue", "²³:00", 2, "Asia/Shanghai", "is not HH:MM", id="superscript-digits"),
        pytest.param("tue", "09:00", 0, "Asia/Shanghai", "at least a minute", id="zero-duration"),
        pytest.param("tue", "09:00", -1, "Asia/Shanghai", "at least a minute", id="negative"),
        pytest.param("tue", "09:00", 0.0001, "Asia/Shanghai", "at least a minute",
                     id="under-a-minute"),
        pytest.param("daily", "09:00", 24, "Asia/Shanghai",
                     "a window of 24 h does not fit: it must be shorter than the 24 h",
                     id="daily-a-whole-day"),
        pytest.param("mon,tue", "09:00", 30, "Asia/Shanghai", "shorter than the 24 h",
                     id="overlapping-days"),
        pytest.param("tue", "09:00", 168, "Asia/Shanghai", "shorter than the 168 h",
                     id="weekly-a-whole-week"),
        pytest.param("tue", "09:00", 2, "Asia/Shangai", "unknown time zone 'Asia/Shangai'",
                     id="a-zone-misspelt"),
        pytest.param("tue", "09:00", 2, "../../etc/passwd", "unknown time zone",
                     id="a-path-for-a-zone"),
    ],
)  # fmt: skip
def test_refused_in_words(days: str, at: str, hours: float, zone: str, message: str) -> None:
    with pytest.raises(RecurrenceInvalid, match=message.replace("(", r"\(")):
        rec(days, at, hours, zone)


def test_day_names_in_any_form_and_order() -> None:
    assert parse_days("Thursday, tue ,TUE") == (1, 3)
    assert parse_days(["周一", "星期日"]) == (0, 6)
    assert parse_days("daily") == tuple(range(7))
    assert parse_clock(" 07:05 ") == time(7, 5)
