"""Business-hours calendar: which UTC hours count as "daytime" for utilization.

The evaluators asked that fees and sizing follow daytime (business-hours)
utilization, not night-time batch peaks. A business hour is a local time
inside one of the policy's windows on an official Chinese working day
(holidays and make-up working days 调休 included).

The official schedule is data (architecture principle 9): the years shipped in
:mod:`cloudtally.core.official_days` (generated once from ``chinese_calendar``)
and, taking precedence, the years the policy file's ``official_calendar``
section gives. A year that neither knows never stops anything: its days follow
the plain weekday rule (Monday–Friday working) and every hour of it is
*provisional* — flagged in the rollups, the API and the bill lines, counted in
a metric — until the operator adds the State Council's schedule for that year;
the worker then re-derives exactly those hours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

HOUR = 3600
DAY = 86400

Window = tuple[str, str]


class CalendarUnknownYear(ValueError):
    """Kept for callers that insist on an official year (:meth:`OfficialCalendar.require`)."""


def parse_hhmm(text: str) -> int:
    """'HH:MM' -> minutes after midnight; '24:00' allowed as an end."""
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise ValueError(f"time {text!r} is not HH:MM") from None
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m != 0) or len(mm) != 2:
        raise ValueError(f"time {text!r} is not a valid HH:MM")
    return h * 60 + m


def validate_windows(windows: tuple[Window, ...]) -> tuple[Window, ...]:
    """Windows are [start, end) within one local day, sorted, non-overlapping."""
    previous_end = -1
    for start, end in windows:
        s, e = parse_hhmm(start), parse_hhmm(end)
        if s >= e:
            raise ValueError(f"window {start}-{end}: start must be before end")
        if s < previous_end:
            raise ValueError(f"window {start}-{end} overlaps or is out of order")
        previous_end = e
    return windows


def window_minutes(windows: tuple[Window, ...]) -> np.ndarray:
    """Boolean mask of the 1440 minutes of a local day inside the windows."""
    mask = np.zeros(24 * 60, dtype=bool)
    for start, end in windows:
        mask[parse_hhmm(start) : parse_hhmm(end)] = True
    return mask


class CalendarPolicy(BaseModel):
    """Business hours of the policy file (embedded by the tariff/policy model).

    ``business_hours`` are local [start, end) windows applied on official
    working days only; ``off_hours_weight`` is the weight of every other hour
    (0 = daytime-only utilization, 1 = all hours count equally).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Shanghai"
    business_hours: tuple[Window, ...] = (("09:00", "12:00"), ("13:30", "18:00"))
    off_hours_weight: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("business_hours")
    @classmethod
    def _windows(cls, value: tuple[Window, ...]) -> tuple[Window, ...]:
        return validate_windows(value)

    def fingerprint(self) -> str:
        """Stable short id of this calendar (stored as ``hour_weights.policy_version``)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class OfficialYear(BaseModel):
    """One year's official exceptions to the weekday rule (国务院办公厅 schedule).

    ``holidays``: days off that would be working days by the weekday rule
    (listing a weekend holiday too is allowed and changes nothing);
    ``workdays``: make-up working days (调休), normally a Saturday or Sunday.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: tuple[dt.date, ...] = ()
    workdays: tuple[dt.date, ...] = ()
    source: str = Field("", description="where the schedule comes from, e.g. 国办发明电〔2026〕N号")

    @field_validator("holidays", "workdays")
    @classmethod
    def _sorted_unique(cls, days: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
        return tuple(sorted(set(days)))

    def check_year(self, year: int) -> None:
        """Every date inside ``year`` and no date both a holiday and a working day."""
        for day in (*self.holidays, *self.workdays):
            if day.year != year:
                raise ValueError(f"@.{year}: {day.isoformat()} is not in {year}")
        both = set(self.holidays) & set(self.workdays)
        if both:
            first = min(both).isoformat()
            raise ValueError(f"@.{year}: {first} is both a holiday and a working day")


def shipped_years() -> dict[int, OfficialYear]:
    """The default schedule: every year the generated data file knows."""
    from cloudtally.core.official_days import SHIPPED

    return {
        year: OfficialYear(
            holidays=tuple(dt.date.fromisoformat(d) for d in off),
            workdays=tuple(dt.date.fromisoformat(d) for d in on),
            source="chinese_calendar (shipped)",
        )
        for year, (off, on) in SHIPPED.items()
    }


class OfficialCalendar:
    """Working days from official year schedules; the weekday rule for any other year."""

    def __init__(self, years: dict[int, OfficialYear] | None = None) -> None:
        merged = dict(_shipped())
        merged.update(years or {})
        self.years = merged
        self._off = {d for y in merged.values() for d in y.holidays}
        self._on = {d for y in merged.values() for d in y.workdays}

    def knows(self, year: int) -> bool:
        return year in self.years

    def is_working_day(self, day: dt.date) -> bool:
        """Official working day; for an unknown year, Monday–Friday (provisional)."""
        if day in self._on:
            return True
        if day in self._off:
            return False
        return day.weekday() < 5

    def require(self, day: dt.date) -> bool:
        """Like :meth:`is_working_day` but refuse a year without an official schedule."""
        if not self.knows(day.year):
            raise CalendarUnknownYear(
                f"no official working-day schedule for {day.year} ({day.isoformat()}); "
                "add it to the policy file's official_calendar section"
            )
        return self.is_working_day(day)

    def digest(self, years: set[int] | None = None) -> str:
        """Short id of the schedule of ``years`` (all when None); 'weekday' for unknown ones."""
        parts = []
        for year in sorted(self.years if years is None else years):
            y = self.years.get(year)
            parts.append(f"{year}:" + ("weekday" if y is None else y.model_dump_json()))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def _shipped() -> dict[int, OfficialYear]:
    return shipped_years()


@lru_cache(maxsize=1)
def default_official() -> OfficialCalendar:
    """The shipped schedule alone (what a policy without ``official_calendar`` uses)."""
    return OfficialCalendar()


def is_working_day(day: dt.date) -> bool:
    """Official working day by the shipped schedule (weekday rule beyond it)."""
    return default_official().is_working_day(day)


class BusinessCalendar:
    """Business fraction and weight of UTC hours under one :class:`CalendarPolicy`."""

    def __init__(self, policy: CalendarPolicy, official: OfficialCalendar | None = None) -> None:
        self.policy = policy
        self.official = official or default_official()
        self.zone = ZoneInfo(policy.timezone)
        self._minutes = window_minutes(policy.business_hours)

    def is_working_day(self, day: dt.date) -> bool:
        return self.official.is_working_day(day)

    def fingerprint(self, start_hour_epoch: int, end_hour_epoch: int) -> str:
        """Id of the weights of [start, end): the windows and the schedule of its years."""
        years = set(self.local_years(start_hour_epoch, end_hour_epoch))
        return f"{self.policy.fingerprint()}-{self.official.digest(years)}"

    def local_years(self, start_hour_epoch: int, end_hour_epoch: int) -> list[int]:
        """Local calendar years the hours [start, end) touch."""
        if end_hour_epoch <= start_hour_epoch:
            return []
        first = dt.datetime.fromtimestamp(start_hour_epoch, self.zone).year
        last = dt.datetime.fromtimestamp(end_hour_epoch - 1, self.zone).year
        return list(range(first, last + 1))

    def provisional(self, start_hour_epoch: int, end_hour_epoch: int) -> np.ndarray:
        """Per UTC hour in [start, end): True when a minute of it falls in a local year
        without an official schedule (weighted by the weekday rule)."""
        start, end = _hour_range(start_hour_epoch, end_hour_epoch)
        n = (end - start) // HOUR
        if n == 0:
            return np.zeros(0, dtype=bool)
        starts = np.arange(start, end, HOUR, dtype=np.int64)
        out = np.zeros(n, dtype=bool)
        for probe in (starts, starts + HOUR - 60):
            _, local_day = self._local_minute_and_day(probe)
            years = [_ordinal_date(int(d)).year for d in local_day]
            out |= np.array([not self.official.knows(y) for y in years], dtype=bool)
        return out

    def business_fraction(self, hour_epoch: int) -> float:
        """Fraction of the UTC hour starting at ``hour_epoch`` inside business hours."""
        return float(self.business_fractions(hour_epoch, hour_epoch + HOUR)[0])

    def business_fractions(self, start_hour_epoch: int, end_hour_epoch: int) -> np.ndarray:
        """Business fraction of every UTC hour in [start, end) (both hour-aligned)."""
        start, end = _hour_range(start_hour_epoch, end_hour_epoch)
        n = (end - start) // HOUR
        if n == 0:
            return np.zeros(0, dtype=np.float64)
        # Walk minute by minute in local time: exact for any offset (incl. :30 zones).
        minutes = start + 60 * np.arange(n * 60, dtype=np.int64)
        local_minute, local_day = self._local_minute_and_day(minutes)
        days = np.unique(local_day)
        working = np.array(
            [self.official.is_working_day(_ordinal_date(int(d))) for d in days], dtype=bool
        )
        day_ok = working[np.searchsorted(days, local_day)]
        inside = self._minutes[local_minute] & day_ok
        fractions: np.ndarray = inside.reshape(n, 60).mean(axis=1)
        return fractions

    def hour_weights(self, start_hour_epoch: int, end_hour_epoch: int) -> np.ndarray:
        """Weight per UTC hour: fraction × 1 + (1 − fraction) × off_hours_weight."""
        f = self.business_fractions(start_hour_epoch, end_hour_epoch)
        w = self.policy.off_hours_weight
        weights: np.ndarray = f + (1.0 - f) * w
        return weights

    def _local_minute_and_day(self, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local minute-of-day and local proleptic ordinal day of UTC epochs."""
        offsets = _utc_offsets(self.zone, int(epochs[0]), int(epochs[-1]))
        # offsets: sorted transition epochs with their offset; few per year at most.
        idx = np.searchsorted(offsets[0], epochs, side="right") - 1
        local = epochs + offsets[1][idx]
        local_day = local // DAY + _EPOCH_ORDINAL
        local_minute = (local % DAY) // 60
        return local_minute.astype(np.int64), local_day.astype(np.int64)


def night_fractions(timezone: str, windows: tuple[Window, ...]) -> list[float]:
    """Fraction of each local hour-of-day (0..23) inside the night windows.

    Used in SQL as ``[f0, …, f23][toHour(hour, tz) + 1]``; exact for zones whose
    offset is a whole number of hours (Asia/Shanghai is +08:00).
    """
    ZoneInfo(timezone)
    mask = window_minutes(windows)
    return [float(x) for x in mask.reshape(24, 60).mean(axis=1)]


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _ordinal_date(ordinal: int) -> dt.date:
    return dt.date.fromordinal(ordinal)


def _hour_range(start: int, end: int) -> tuple[int, int]:
    if start % HOUR or end % HOUR:
        raise ValueError("hour epochs must be aligned to the hour")
    if end < start:
        raise ValueError("end hour before start hour")
    return int(start), int(end)


def _utc_offsets(zone: ZoneInfo, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Offset changes of ``zone`` between two epochs, found by hourly probing."""
    probes = range(first - DAY, last + DAY + HOUR, HOUR)
    starts: list[int] = []
    values: list[int] = []
    for t in probes:
        off = dt.datetime.fromtimestamp(t, zone).utcoffset()
        seconds = int(off.total_seconds()) if off is not None else 0
        if not values or values[-1] != seconds:
            starts.append(t if values else -(2**62))
            values.append(seconds)
    return np.array(starts, dtype=np.int64), np.array(values, dtype=np.int64)
