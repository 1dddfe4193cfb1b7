"""Fault timeliness against the contract's limits, on the official working-day calendar."""

from __future__ import annotations

import datetime as dt

from cloudtally.core.availability import Incident
from cloudtally.core.calendar import OfficialCalendar, OfficialYear
from cloudtally.core.faults import (
    FaultReport,
    SystemIncident,
    add_working_days,
    cross_check,
    systems_of,
    timeliness,
)
from cloudtally.core.sla import FaultLimit

SH = dt.timezone(dt.timedelta(hours=8))
MAJOR = FaultLimit(on_site_minutes=30, resolve_minutes=120, report_working_days=3)

# 2027 is beyond the shipped schedule (2004-2026): the policy supplies it. Labour Day
# off Sat 1 - Wed 5 May, made up on Sun 25 April and Sat 8 May (calendar data, not code).
Y2027 = OfficialYear(
    holidays=(dt.date(2027, 5, 3), dt.date(2027, 5, 4), dt.date(2027, 5, 5)),
    workdays=(dt.date(2027, 4, 25), dt.date(2027, 5, 8)),
    source="test schedule",
)


def t(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> int:
    return int(dt.datetime(y, m, d, hh, mm, tzinfo=SH).timestamp())


def status(items: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {x.check: x.status for x in items}


def test_friday_evening_before_a_holiday_gets_three_official_working_days() -> None:
    cal = OfficialCalendar({2027: Y2027})
    resolved = t(2027, 4, 30, 19, 30)  # Friday evening
    # Thu 6, Fri 7, Sat 8 (make-up day) May: the deadline is the end of 8 May.
    assert add_working_days(resolved, 3, cal, "Asia/Shanghai") == t(2027, 5, 9)
    # By the weekday rule alone (no calendar data) it would wrongly be the end of 5 May.
    assert add_working_days(resolved, 3, OfficialCalendar(), "Asia/Shanghai") == t(2027, 5, 6)
    f = FaultReport(
        1, "F-1", "provider-a", "major", t(2027, 4, 30, 17, 0),
        on_site=t(2027, 4, 30, 17, 25), resolved=resolved, report_delivered=t(2027, 5, 8, 17, 0),
    )  # fmt: skip
    got = timeliness(f, MAJOR, cal, "Asia/Shanghai", as_of=t(2027, 6, 1))
    assert status(got) == {"on_site": "ok", "resolved": "breach", "report": "ok"}
    late = next(x for x in got if x.check == "resolved")
    assert late.late_s == 30 * 60 and late.limit == "2 h"
    f2 = FaultReport(**{**f.__dict__, "report_delivered": t(2027, 5, 9, 0, 1)})
    assert status(timeliness(f2, MAJOR, cal, "Asia/Shanghai", t(2027, 6, 1)))["report"] == "breach"


def test_blank_times_are_not_reported_or_open_never_silently_ok() -> None:
    cal = OfficialCalendar()
    f = FaultReport(2, "F-2", "p", "major", t(2023, 3, 5, 14, 5), resolved=t(2023, 3, 5, 15))
    got = status(timeliness(f, MAJOR, cal, "Asia/Shanghai", as_of=t(2023, 3, 20)))
    assert got == {"on_site": "not_reported", "resolved": "ok", "report": "breach"}
    still_open = FaultReport(3, "F-3", "p", "major", t(2023, 3, 5, 14, 5))
    early = status(timeliness(still_open, MAJOR, cal, "Asia/Shanghai", t(2023, 3, 5, 14, 20)))
    assert early == {"on_site": "open", "resolved": "open", "report": "open"}
    later = status(timeliness(still_open, MAJOR, cal, "Asia/Shanghai", t(2023, 3, 5, 17)))
    assert later["on_site"] == "breach" and later["resolved"] == "breach"


def test_cross_check_pairs_faults_with_metered_downtime() -> None:
    def si(vm: str, a: int, b: int, system: str) -> SystemIncident:
        return SystemIncident(Incident(vm, a, b, "no_samples"), system, "p")

    inc = [
        si("vm-1", t(2023, 3, 5, 14, 5), t(2023, 3, 5, 14, 47), "医保结算"),
        si("vm-2", t(2023, 3, 9, 2), t(2023, 3, 9, 3), "门户"),
        si("vm-3", t(2023, 3, 9, 2), t(2023, 3, 9, 2, 2), "门户"),
    ]
    faults = [
        FaultReport(1, "F-1", "p", "major", t(2023, 3, 5, 14, 10), resolved=t(2023, 3, 5, 15),
                    systems=systems_of("医保结算、社保查询")),
        FaultReport(2, "F-2", "p", "major", t(2023, 3, 20, 9), resolved=t(2023, 3, 20, 10),
                    systems=("门户",)),
    ]  # fmt: skip
    cc = cross_check(faults, inc, as_of=t(2023, 4, 1))
    assert [(f.fault_id, [s.incident.vm_id for s in hits]) for f, hits in cc.matched] == [
        ("F-1", ["vm-1"])
    ]
    assert [f.fault_id for f in cc.unmetered_faults] == ["F-2"]
    assert [s.incident.vm_id for s in cc.unreported] == ["vm-2"]  # vm-3's 2 min is below 5


def test_systems_cell_splits_on_chinese_and_ascii_separators() -> None:
    assert systems_of("医保结算、社保查询；门户/OA, 邮件\n") == (
        "医保结算",
        "社保查询",
        "门户",
        "OA",
        "邮件",
    )
