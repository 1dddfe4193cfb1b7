"""Business-hours calendar on known dates of the official Chinese calendar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pydantic import ValidationError

from cloudtally.core.calendar import (
    BusinessCalendar,
    CalendarPolicy,
    CalendarUnknownYear,
    OfficialCalendar,
    OfficialYear,
    is_working_day,
    night_fractions,
)

SH = dt.timezone(dt.timedelta(hours=8))


def utc_hour(y: int, m: int, d: int, h: int, tz: dt.tzinfo = SH) -> int:
    """Epoch of a local wall-clock hour (Asia/Shanghai by default)."""
    return int(dt.datetime(y, m, d, h, tzinfo=tz).timestamp())


def day_fractions(cal: BusinessCalendar, y: int, m: int, d: int) -> np.ndarray:
    start = utc_hour(y, m, d, 0)
    return cal.business_fractions(start, start + 24 * 3600)


def test_make_up_saturday_is_a_working_day() -> None:
    # 2023-10-07 is a Saturday worked in exchange for the National Day holiday (调休).
    assert dt.date(2023, 10, 7).weekday() == 5
    assert is_working_day(dt.date(2023, 10, 7))
    cal = BusinessCalendar(CalendarPolicy())
    f = day_fractions(cal, 2023, 10, 7)
    assert f.sum() == pytest.approx(7.5)  # 09–12 and 13:30–18
    # an ordinary Saturday is not
    assert not is_working_day(dt.date(2023, 10, 14))
    assert day_fractions(cal, 2023, 10, 14).sum() == 0


def test_weekday_inside_national_day_holiday_has_no_business_hours() -> None:
    assert dt.date(2023, 10, 3).weekday() == 1  # Tuesday
    assert not is_working_day(dt.date(2023, 10, 3))
    cal = BusinessCalendar(CalendarPolicy())
    assert day_fractions(cal, 2023, 10, 3).sum() == 0
    assert day_fractions(cal, 2023, 10, 9).sum() == pytest.approx(7.5)  # Monday after


def test_lunch_break_and_window_edges() -> None:
    cal = BusinessCalendar(CalendarPolicy())
    f = day_fractions(cal, 2023, 10, 9)
    expected = np.zeros(24)
    expected[[9, 10, 11, 14, 15, 16, 17]] = 1.0
    expected[13] = 0.5  # 13:30–14:00
    np.testing.assert_array_equal(f, expected)
    assert cal.business_fraction(utc_hour(2023, 10, 9, 12)) == 0.0
    assert cal.business_fraction(utc_hour(2023, 10, 9, 13)) == 0.5


def test_timezone_shift_utc_hours() -> None:
    cal = BusinessCalendar(CalendarPolicy())
    # 01:00 UTC is 09:00 in Shanghai; 00:00 UTC is 08:00
    assert cal.business_fraction(int(dt.datetime(2023, 10, 9, 1, tzinfo=dt.UTC).timestamp())) == 1
    assert cal.business_fraction(int(dt.datetime(2023, 10, 9, 0, tzinfo=dt.UTC).timestamp())) == 0
    # a policy in UTC keeps the windows on UTC wall-clock
    utc = BusinessCalendar(CalendarPolicy(timezone="UTC"))
    assert utc.business_fraction(int(dt.datetime(2023, 10, 9, 9, tzinfo=dt.UTC).timestamp())) == 1
    assert utc.business_fraction(int(dt.datetime(2023, 10, 9, 1, tzinfo=dt.UTC).timestamp())) == 0


def test_local_day_boundary_uses_local_date() -> None:
    # 2023-10-06 23:00 UTC is 07:00 on Saturday 10-07 (make-up day) locally: the
    # working-day decision follows the local date, not the UTC date.
    cal = BusinessCalendar(CalendarPolicy())
    start = int(dt.datetime(2023, 10, 6, 16, tzinfo=dt.UTC).timestamp())  # 10-07 00:00 local
    f = cal.business_fractions(start, start + 24 * 3600)
    assert f[9] == 1.0  # 09:00 local on the make-up Saturday


def test_hour_weights_use_off_hours_weight() -> None:
    cal = BusinessCalendar(CalendarPolicy(off_hours_weight=0.25))
    start = utc_hour(2023, 10, 9, 0)
    w = cal.hour_weights(start, start + 24 * 3600)
    assert w[9] == 1.0
    assert w[13] == pytest.approx(0.5 + 0.5 * 0.25)
    assert w[3] == 0.25
    holiday = cal.hour_weights(utc_hour(2023, 10, 3, 0), utc_hour(2023, 10, 4, 0))
    np.testing.assert_allclose(holiday, 0.25)


def test_unknown_year_follows_the_weekday_rule_and_is_provisional() -> None:
    # chinese_calendar stops at 2026: 2027 must not stop anything.
    cal = BusinessCalendar(CalendarPolicy())
    h0, h1 = utc_hour(2027, 1, 1, 0), utc_hour(2027, 1, 5, 0)  # Fri 1 Jan .. Mon 4 Jan
    f = cal.business_fractions(h0, h1).reshape(4, 24).sum(axis=1)
    np.testing.assert_allclose(f, [7.5, 0, 0, 7.5])  # New Year's Day is a weekday here
    assert cal.provisional(h0, h1).all()
    with pytest.raises(CalendarUnknownYear, match="official_calendar"):
        cal.official.require(dt.date(2027, 1, 4))
    # the last hour of 2026 local time is official; the next one is not
    edge = utc_hour(2026, 12, 31, 23)
    np.testing.assert_array_equal(cal.provisional(edge, edge + 2 * 3600), [False, True])


def test_supplied_year_takes_precedence_with_its_make_up_days() -> None:
    # A 2027 schedule whose 调休 differs from the weekday rule: Sat 9 Jan worked,
    # Fri 1 Jan and Mon 4 Jan off.
    year = OfficialYear(
        holidays=(dt.date(2027, 1, 1), dt.date(2027, 1, 4)), workdays=(dt.date(2027, 1, 9),)
    )
    cal = BusinessCalendar(CalendarPolicy(), OfficialCalendar({2027: year}))
    h0 = utc_hour(2027, 1, 1, 0)
    f = cal.business_fractions(h0, h0 + 10 * 24 * 3600).reshape(10, 24).sum(axis=1)
    np.testing.assert_allclose(f, [0, 0, 0, 0, 7.5, 7.5, 7.5, 7.5, 7.5, 0])
    assert not cal.provisional(h0, h0 + 24 * 3600).any()
    # a year given in the policy replaces the shipped one (2023-10-07 made a day off)
    override = OfficialCalendar({2023: OfficialYear(holidays=(dt.date(2023, 10, 9),))})
    assert not override.is_working_day(dt.date(2023, 10, 9))
    assert not override.is_working_day(dt.date(2023, 10, 7))  # plain Saturday now
    # and the weights' fingerprint changes only for the hours of that year
    base = BusinessCalendar(CalendarPolicy())
    assert base.fingerprint(h0, h0 + 3600) != cal.fingerprint(h0, h0 + 3600)
    h26 = utc_hour(2026, 6, 1, 0)
    assert base.fingerprint(h26, h26 + 3600) == cal.fingerprint(h26, h26 + 3600)


def test_shipped_schedule_matches_the_library_for_every_year_it_knows() -> None:
    import chinese_calendar

    shipped = OfficialCalendar()
    years = sorted(shipped.years)
    assert years[0] <= 2004 and years[-1] >= 2026
    day = dt.date(years[0], 1, 1)
    while day.year <= years[-1]:
        assert shipped.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_official_year_rejects_dates_of_another_year_and_contradictions() -> None:
    with pytest.raises(ValueError, match="not in 2027"):
        OfficialYear(holidays=(dt.date(2026, 1, 1),)).check_year(2027)
    with pytest.raises(ValueError, match="both"):
        OfficialYear(holidays=(dt.date(2027, 1, 9),), workdays=(dt.date(2027, 1, 9),)).check_year(
            2027
        )


def test_policy_validation() -> None:
    with pytest.raises(ValidationError):
        CalendarPolicy(business_hours=(("12:00", "09:00"),))
    with pytest.raises(ValidationError):
        CalendarPolicy(business_hours=(("09:00", "12:00"), ("11:00", "13:00")))
    with pytest.raises(ValidationError):
        CalendarPolicy(timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        CalendarPolicy(off_hours_weight=1.5)
    assert CalendarPolicy().fingerprint() == CalendarPolicy().fingerprint()
    assert CalendarPolicy().fingerprint() != CalendarPolicy(off_hours_weight=0.1).fingerprint()


def test_misaligned_hours_rejected() -> None:
    cal = BusinessCalendar(CalendarPolicy())
    with pytest.raises(ValueError, match="aligned"):
        cal.hour_weights(utc_hour(2023, 10, 9, 0) + 60, utc_hour(2023, 10, 9, 2))


def test_night_fractions() -> None:
    f = night_fractions("Asia/Shanghai", (("00:00", "06:00"), ("22:30", "24:00")))
    assert f[:6] == [1.0] * 6
    assert f[6:22] == [0.0] * 16
    assert f[22] == 0.5 and f[23] == 1.0
