"""The raw-retention rule (pure): which UTC months may go, and why the others are held."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cloudtally.core import retention
from cloudtally.core.retention import MonthFacts, decide, local_months

SH = ZoneInfo("Asia/Shanghai")


def facts(month: dt.date, **kw: object) -> MonthFacts:
    base: dict[str, object] = {
        "month": month, "local_months": tuple(local_months(month, SH)), "unissued": (),
        "pending_hours": 0, "provisional_hours": 0,
    }  # fmt: skip
    return MonthFacts(**(base | kw))  # type: ignore[arg-type]


def test_a_utc_month_east_of_utc_overlaps_the_next_local_month() -> None:
    assert local_months(dt.date(2023, 1, 1), SH) == [dt.date(2023, 1, 1), dt.date(2023, 2, 1)]
    assert local_months(dt.date(2023, 12, 1), SH) == [dt.date(2023, 12, 1), dt.date(2024, 1, 1)]
    assert local_months(dt.date(2023, 1, 1), ZoneInfo("UTC")) == [dt.date(2023, 1, 1)]


def test_kept_window_and_month_arithmetic() -> None:
    assert retention.kept_from(dt.date(2023, 3, 31), 3) == dt.date(2022, 12, 1)
    assert retention.add_months(dt.date(2023, 1, 1), -13) == dt.date(2021, 12, 1)
    with pytest.raises(ValueError):
        retention.kept_from(dt.date(2023, 3, 1), 0)
    assert retention.partition_month("202210") == dt.date(2022, 10, 1)
    for bad in ("2022-10", "tuple()", "20221"):
        with pytest.raises(ValueError, match="monthly partition"):
            retention.partition_month(bad)


def test_rules_in_order() -> None:
    kept = dt.date(2023, 5, 1)
    # UTC April touches local May's first hours: kept.
    assert not decide(facts(dt.date(2023, 4, 1)), kept).drop
    assert decide(facts(dt.date(2023, 3, 1)), kept).drop
    d = decide(facts(dt.date(2023, 3, 1), unissued=(dt.date(2023, 4, 1),)), kept)
    assert not d.drop and "2023-04 not closed" in d.reason
    d = decide(facts(dt.date(2023, 3, 1), pending_hours=5), kept)
    assert not d.drop and "5 hours still to roll up" in d.reason
    d = decide(facts(dt.date(2023, 3, 1), provisional_hours=744), kept)
    assert not d.drop and "provisionally" in d.reason
    d = decide(facts(dt.date(2023, 3, 1), orphan_vms=2), kept)
    assert not d.drop and "2 VMs no inventory has announced" in d.reason
