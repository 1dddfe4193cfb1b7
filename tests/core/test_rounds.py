"""Rules of the rightsizing round: decisions, implementation from inventory, savings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cloudtally.core.rounds import DecisionError, check_decision, implementation, outcome

D = Decimal


def test_a_decline_needs_a_reason_and_reasons_are_tidied() -> None:
    assert check_decision("accepted", "") == ("accepted", "")
    assert check_decision("declined", "  年底  高峰 ") == ("declined", "年底 高峰")
    with pytest.raises(DecisionError, match="reason"):
        check_decision("declined", " \n ")
    with pytest.raises(DecisionError, match="accepted or declined"):
        check_decision("maybe", "x")
    with pytest.raises(DecisionError, match="longer"):
        check_decision("accepted", "x" * 501)


def size(kind: str, now_vcpu: int | None, now_mem: str | None, deleted: bool = False) -> str:
    return implementation(
        kind, vcpu=8, mem_gb=D(16), target_vcpu=2, target_mem_gb=D(4), now_vcpu=now_vcpu,
        now_mem_gb=None if now_mem is None else D(now_mem), deleted=deleted,
    )  # fmt: skip


def test_implementation_is_read_from_the_inventory() -> None:
    assert size("rightsizing", 2, "4") == "done"
    assert size("rightsizing", 1, "4") == "done"  # smaller than asked is still done
    assert size("rightsizing", 2, "16") == "partial"
    assert size("rightsizing", 4, "8") == "partial"  # shrunk, not to the target
    assert size("rightsizing", 8, "16") == "not_done"
    assert size("rightsizing", None, None, deleted=True) == "reclaimed"
    assert size("idle", 8, "16") == "not_done"
    assert size("idle", 8, "16", deleted=True) == "reclaimed"


def test_savings_come_from_the_bills_exactly() -> None:
    o = outcome(
        "rightsizing", vcpu=8, mem_gb=D(16), target_vcpu=2, target_mem_gb=D(4), now_vcpu=2,
        now_mem_gb=D(4), deleted=False, daily_before=D("10.33"), daily_after=D("2.58"),
    )  # fmt: skip
    assert o.implementation == "done" and o.saved_month == D("232.50")
    pending = outcome(
        "rightsizing", vcpu=8, mem_gb=D(16), target_vcpu=2, target_mem_gb=D(4), now_vcpu=2,
        now_mem_gb=D(4), deleted=False, daily_before=D("10.33"), daily_after=None,
    )  # fmt: skip
    assert pending.saved_month is None  # no bill since: nothing measured yet
    gone = outcome(
        "idle", vcpu=8, mem_gb=D(16), target_vcpu=0, target_mem_gb=D(0), now_vcpu=None,
        now_mem_gb=None, deleted=True, daily_before=D("7.35"), daily_after=None,
    )  # fmt: skip
    assert gone.saved_month == D("220.50") and gone.as_dict()["daily_after"] == "0.00"
    worse = outcome(
        "rightsizing", vcpu=8, mem_gb=D(16), target_vcpu=2, target_mem_gb=D(4), now_vcpu=16,
        now_mem_gb=D(32), deleted=False, daily_before=D("10.00"), daily_after=D("20.00"),
    )  # fmt: skip
    assert worse.implementation == "not_done" and worse.saved_month == D("-300.00")
