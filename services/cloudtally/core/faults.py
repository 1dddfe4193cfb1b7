"""Fault reports and their handling: timeliness against the contract, and the cross-check
with metered downtime (no I/O).

A provider reports each fault with when it was received, when its engineer was on
site, when it was resolved and when the analysis report was delivered. The contract
(seed 003: a major fault on site within 30 min, resolved within 2 h, analysis report
within 3 working days after resolution) sets limits per severity in the policy's
``sla.fault_handling``. Durations count from *received*; the report's working days
count on the official calendar (holidays and make-up working days 调休, from the
policy's calendar data for a year the shipped schedule does not know), starting the
day after resolution, and the deadline is the end (24:00 local) of the last one.

A time the report leaves blank is not a breach but *not reported* (the evidence is
missing); a fault still open at ``as_of`` whose limit has passed is a breach.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cloudtally.core.availability import Incident
from cloudtally.core.calendar import OfficialCalendar
from cloudtally.core.sla import FaultLimit

CHECKS = ("on_site", "resolved", "report")


@dataclass(frozen=True)
class FaultReport:
    """One row of a provider's fault report, parsed (times are epoch seconds)."""

    row: int
    fault_id: str
    provider: str
    severity: str  # as the provider wrote it
    received: int
    on_site: int | None = None
    resolved: int | None = None
    report_delivered: int | None = None
    systems: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Timeliness:
    """One check of one fault: its limit, deadline and outcome."""

    fault_id: str
    check: str  # on_site | resolved | report
    limit: str  # as written: "30 min", "3 working days"
    deadline: int
    actual: int | None
    status: str  # ok | breach | not_reported | open (not due yet)
    late_s: int = 0

    @property
    def breach(self) -> bool:
        return self.status == "breach"

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault_id": self.fault_id,
            "check": self.check,
            "limit": self.limit,
            "deadline": self.deadline,
            "actual": self.actual,
            "status": self.status,
            "late_s": self.late_s,
        }


def add_working_days(
    instant: int, days: int, calendar: OfficialCalendar, tz: str | ZoneInfo
) -> int:
    """End (next local midnight) of the ``days``-th official working day after the local
    date of ``instant``."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    day = dt.datetime.fromtimestamp(instant, zone).date()
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if calendar.is_working_day(day):
            left -= 1
    nxt = day + dt.timedelta(days=1)
    return int(dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp())


def _outcome(deadline: int, actual: int | None, as_of: int, open_: bool) -> tuple[str, int]:
    if actual is not None:
        return ("breach", actual - deadline) if actual > deadline else ("ok", 0)
    if open_:
        return ("breach", as_of - deadline) if as_of > deadline else ("open", 0)
    return ("not_reported", 0)


def timeliness(
    f: FaultReport,
    limit: FaultLimit,
    calendar: OfficialCalendar,
    tz: str | ZoneInfo,
    as_of: int,
) -> list[Timeliness]:
    """Every check the severity's limits define, for one fault.

    ``as_of`` decides an open fault: not resolved by then and past the limit is a breach.
    An on-site time left blank on a resolved fault is *not reported*; on an open fault it
    is still due.
    """
    out: list[Timeliness] = []
    still_open = f.resolved is None
    if limit.on_site_minutes is not None:
        dl = f.received + limit.on_site_minutes * 60
        st, late = _outcome(dl, f.on_site, as_of, still_open)
        out.append(
            Timeliness(
                f.fault_id, "on_site", f"{limit.on_site_minutes} min", dl, f.on_site, st, late
            )
        )
    if limit.resolve_minutes is not None:
        dl = f.received + limit.resolve_minutes * 60
        st, late = _outcome(dl, f.resolved, as_of, True)
        out.append(
            Timeliness(
                f.fault_id, "resolved", _minutes(limit.resolve_minutes), dl, f.resolved, st, late
            )
        )
    if limit.report_working_days is not None:
        if f.resolved is None:
            out.append(
                Timeliness(
                    f.fault_id,
                    "report",
                    f"{limit.report_working_days} working days",
                    0,
                    f.report_delivered,
                    "open",
                )
            )
        else:
            dl = add_working_days(f.resolved, limit.report_working_days, calendar, tz)
            st, late = _outcome(dl, f.report_delivered, as_of, True)
            out.append(
                Timeliness(
                    f.fault_id,
                    "report",
                    f"{limit.report_working_days} working days",
                    dl,
                    f.report_delivered,
                    st,
                    late,
                )
            )
    return out


def _minutes(m: int) -> str:
    return f"{m // 60} h" if m % 60 == 0 else f"{m} min"


# ---- cross-check with metered downtime ----------------------------------------------


@dataclass(frozen=True)
class SystemIncident:
    """A metered incident with the business system and provider of its VM."""

    incident: Incident
    system: str
    provider: str


@dataclass(frozen=True)
class CrossCheck:
    matched: tuple[tuple[FaultReport, tuple[SystemIncident, ...]], ...]
    unmetered_faults: tuple[FaultReport, ...]  # reported, no metered downtime found
    unreported: tuple[SystemIncident, ...]  # metered downtime, no fault report


def cross_check(
    faults: Sequence[FaultReport],
    incidents: Iterable[SystemIncident],
    *,
    as_of: int,
    slack_s: int = 900,
    min_unreported_s: int = 300,
) -> CrossCheck:
    """Pair reported faults with metered incidents of the same provider (and, when the
    report names systems, of those systems) overlapping ``[received − slack, resolved +
    slack]``. Incidents of at least ``min_unreported_s`` that no fault explains are
    metered downtime with no report."""
    incs = list(incidents)
    used: set[int] = set()
    matched = []
    missing = []
    for f in faults:
        lo = f.received - slack_s
        hi = (f.resolved if f.resolved is not None else as_of) + slack_s
        names = {s.strip().lower() for s in f.systems if s.strip()}
        hits = []
        for k, si in enumerate(incs):
            if f.provider and si.provider and si.provider != f.provider:
                continue
            if names and si.system.strip().lower() not in names:
                continue
            if si.incident.end > lo and si.incident.start < hi:
                hits.append(si)
                used.add(k)
        if hits:
            matched.append((f, tuple(hits)))
        else:
            missing.append(f)
    unreported = tuple(
        si
        for k, si in enumerate(incs)
        if k not in used and si.incident.duration_s >= min_unreported_s
    )
    return CrossCheck(tuple(matched), tuple(missing), unreported)


def systems_of(text: str) -> tuple[str, ...]:
    """ "affected systems" cell → names (split on , ， 、 ; ； / and newlines)."""
    import re

    parts = re.split(r"[,，、;；/\n]+", text or "")
    return tuple(p.strip() for p in parts if p.strip())


def by_fault(items: Iterable[Timeliness]) -> Mapping[str, list[Timeliness]]:
    out: dict[str, list[Timeliness]] = {}
    for t in items:
        out.setdefault(t.fault_id, []).append(t)
    return out
