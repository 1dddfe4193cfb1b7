"""Times as buyers' and providers' spreadsheets write them, to epoch seconds.

Ledgers and monitoring exports write local wall-clock times (2025/3/1 8:05,
2025年3月1日, 2025-03-01T08:05:00.000); a naive time is in the file's time
zone (Asia/Shanghai unless told), an explicit offset or Z wins.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from cloudtally.core.refusal import BadValue

SHANGHAI = ZoneInfo("Asia/Shanghai")
_FORM = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)


def parse_local_time(text: str, tz: dt.tzinfo = SHANGHAI) -> int:
    """A date or date-time cell -> epoch seconds; ValueError says what is wrong."""
    s = text.strip()
    s = re.sub(r"(\d{4})年(\d{1,2})月(\d{1,2})日?", r"\1-\2-\3", s)
    s = re.sub(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3", s)
    m = _FORM.fullmatch(s)
    if not m:
        raise BadValue(
            f"not a date: {text!r} (use 2025-03-01 or 2025-03-01 08:00)",
            "not_a_date_form",
            value=repr(text),
        )
    y, mo, d, hh, mm, ss = (int(g) if g else 0 for g in m.groups()[:6])
    zone: dt.tzinfo = tz
    off = m.group(7)
    if off:
        if off == "Z":
            zone = dt.UTC
        else:
            sign = 1 if off[0] == "+" else -1
            digits = off[1:].replace(":", "")
            zone = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return int(dt.datetime(y, mo, d, hh, mm, ss, tzinfo=zone).timestamp())
    except ValueError as exc:
        raise BadValue(
            f"not a date: {text!r} ({exc})", "no_such_date", value=repr(text), error=exc
        ) from None


def parse_when(text: str, tz: dt.tzinfo = SHANGHAI) -> int:
    """A command-line time: epoch seconds, or a date / date-time (naive = ``tz``)."""
    s = text.strip()
    return int(s) if s.isdigit() else parse_local_time(s, tz)
