"""Business-hours calendar: which UTC hours count as "daytime" for utilization.

The evaluators asked that fees and sizing follow daytime (business-hours)
utilization, not night-time batch peaks. A business hour is a local time
inside one of the policy's windows on an official Chinese working day
(holidays and make-up working days 调休 included, from ``chinese_calendar``).
The calendar library only knows a fixed range of years; for any other year we
raise :class:`CalendarUnknownYear` instead of guessing weekends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

HOUR = 3600
DAY = 86400

Window = tuple[str, str]


class CalendarUnknownYear(ValueError):
    """The official calendar has no data for this year: refuse to guess."""


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


def is_working_day(day: dt.date) -> bool:
    """Official working day (holidays off, make-up Saturdays/Sundays on)."""
    return _working_day(day)


@lru_cache(maxsize=8192)
def _working_day(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        raise CalendarUnknownYear(
            f"the official working-day calendar does not know {day.isoformat()} ({exc}); "
            "update the chinese_calendar package before metering this period"
        ) from None


class BusinessCalendar:
    """Business fraction and weight of UTC hours under one :class:`CalendarPolicy`."""

    def __init__(self, policy: CalendarPolicy) -> None:
        self.policy = policy
        self.zone = ZoneInfo(policy.timezone)
        self._minutes = window_minutes(policy.business_hours)

    def is_working_day(self, day: dt.date) -> bool:
        return is_working_day(day)

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
        working = np.array([is_working_day(_ordinal_date(int(d))) for d in days], dtype=bool)
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
