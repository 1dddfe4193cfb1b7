"""Idle, storage-idle and rightsizing decisions from per-VM aggregates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cloudtally.core.idle import (
    DiskMonthStats,
    RightsizingRule,
    UnitPrices,
    UtilizationPolicy,
    VmWindowStats,
    idle_candidates,
    review_quarter,
    rightsizing_candidates,
    storage_idle_candidates,
    storage_months,
    target_mem_gb,
    target_vcpu,
    yearly_savings,
)

POLICY = UtilizationPolicy()
START, END = dt.date(2023, 10, 1), dt.date(2023, 10, 15)
FULL = 14 * 1440  # samples in 14 days at one a minute


def vm(vm_id: str, **kw: object) -> VmWindowStats:
    base: dict[str, object] = dict(
        vm_id=vm_id,
        bureau="B",
        system="S",
        pool="P1",
        provider="X",
        vcpu=8,
        mem_gb=Decimal("16"),
        samples=FULL,
        cpu_avg=2.0,
        mem_avg=3.0,
        cpu_max=6.0,
        mem_max=7.0,
    )
    base.update(kw)
    return VmWindowStats(**base)  # type: ignore[arg-type]


def idle(*stats: VmWindowStats) -> list[str]:
    found = idle_candidates(
        stats, POLICY.idle, window_start=START, window_end=END, sample_interval_s=60
    )
    return [c.vm_id for c in found]


def test_idle_rule_needs_all_four_figures_below() -> None:
    assert idle(vm("z-idle"), vm("a-idle")) == ["a-idle", "z-idle"]  # sorted
    assert idle(vm("busy-cpu-avg", cpu_avg=5.0)) == []  # 5 is not < 5
    assert idle(vm("busy-mem-avg", mem_avg=6.0)) == []
    assert idle(vm("spiky-cpu", cpu_max=10.0)) == []
    assert idle(vm("spiky-mem", mem_max=12.0)) == []


def test_idle_needs_coverage_of_the_whole_window() -> None:
    assert idle(vm("gappy", samples=int(FULL * 0.79))) == []
    assert idle(vm("covered", samples=int(FULL * 0.8))) == ["covered"]
    assert (
        idle(vm("no-data", samples=0, cpu_avg=None, mem_avg=None, cpu_max=None, mem_max=None)) == []
    )


def test_idle_candidate_carries_evidence() -> None:
    (c,) = idle_candidates(
        [vm("a")], POLICY.idle, window_start=START, window_end=END, sample_interval_s=60
    )
    assert c.kind == "idle" and c.freed_vcpu == 8 and c.freed_mem_gb == Decimal("16")
    ev = c.evidence
    assert ev["window_start"] == "2023-10-01" and ev["window_end"] == "2023-10-15"
    assert ev["cpu_avg"] == 2.0 and ev["mem_max"] == 7.0
    assert ev["coverage"] == 1.0 and ev["expected_samples"] == FULL
    assert c.as_dict()["freed_mem_gb"] == "16"


def test_rightsizing_target_method() -> None:
    rule = RightsizingRule()  # target utilization 0.6, 1 GB step, min 1 vCPU / 1 GB
    assert target_vcpu(1.2, 8, rule) == 2  # 1.2 / 0.6 = 2.0 exactly → 2
    assert target_vcpu(1.21, 8, rule) == 3
    assert target_vcpu(0.05, 8, rule) == 1  # at least one vCPU
    assert target_vcpu(9.0, 8, rule) == 8  # never grows
    assert target_mem_gb(2.5, Decimal("16"), rule) == Decimal("5")  # 4.1666 → 5
    assert target_mem_gb(0.1, Decimal("16"), rule) == Decimal("1")
    assert yearly_savings(6, Decimal("11"), UnitPrices(Decimal("300"), Decimal("80.005"))) == (
        Decimal("2680.06")  # 1800 + 880.055 → half-up
    )


def test_rightsizing_candidates_and_order() -> None:
    prices = UnitPrices(vcpu_year=Decimal("500"), mem_gb_year=Decimal("100"))
    stats = [
        vm(
            "small-win",
            cpu_day=10.0,
            mem_day=15.0,
            day_coverage=0.9,
            vcpu=4,
            mem_gb=Decimal("8"),
            cpu_p95_used_vcpu=1.5,
            mem_p95_used_gb=3.0,
        ),
        vm(
            "big-win",
            cpu_day=5.0,
            mem_day=10.0,
            day_coverage=1.0,
            vcpu=16,
            mem_gb=Decimal("64"),
            cpu_p95_used_vcpu=1.2,
            mem_p95_used_gb=6.0,
        ),
        vm(
            "busy",
            cpu_day=25.0,
            mem_day=10.0,
            day_coverage=1.0,
            cpu_p95_used_vcpu=3.0,
            mem_p95_used_gb=2.0,
        ),
        vm(
            "thin-evidence",
            cpu_day=5.0,
            mem_day=5.0,
            day_coverage=0.5,
            cpu_p95_used_vcpu=0.1,
            mem_p95_used_gb=0.1,
        ),
        vm(
            "already-minimal",
            cpu_day=5.0,
            mem_day=5.0,
            day_coverage=1.0,
            vcpu=1,
            mem_gb=Decimal("1"),
            cpu_p95_used_vcpu=0.1,
            mem_p95_used_gb=0.1,
        ),
    ]
    found = rightsizing_candidates(
        stats, POLICY.rightsizing, window_start=START, window_end=END, prices=prices
    )
    assert [c.vm_id for c in found] == ["big-win", "small-win"]
    big, small = found
    # 1.2/0.6 = 2 vCPU, 6/0.6 = 10 GB
    assert (big.freed_vcpu, big.freed_mem_gb) == (14, Decimal("54"))
    assert big.savings_year == Decimal("12400.00")
    assert big.evidence["target_vcpu"] == 2 and big.evidence["target_mem_gb"] == "10"
    # 1.5/0.6 = 2.5 → 3 vCPU; 3/0.6 = 5 GB
    assert (small.freed_vcpu, small.freed_mem_gb) == (1, Decimal("3"))
    assert "ceil" in big.evidence["method"]


def test_review_quarter() -> None:
    assert review_quarter(dt.date(2023, 11, 5)) == (dt.date(2023, 7, 1), dt.date(2023, 10, 1))
    assert review_quarter(dt.date(2024, 1, 1)) == (dt.date(2023, 10, 1), dt.date(2024, 1, 1))


def disk(month: dt.date, used: float | None, days: int, disk_id: str = "d1") -> DiskMonthStats:
    return DiskMonthStats(
        vm_id="v",
        disk_id=disk_id,
        month=month,
        tier="archive",
        size_gb=Decimal("500"),
        used_pct_max=used,
        days_sampled=days,
    )


def test_storage_idle_two_complete_months() -> None:
    rule = POLICY.storage_idle
    as_of = dt.date(2023, 12, 10)
    assert storage_months(as_of, rule) == [dt.date(2023, 10, 1), dt.date(2023, 11, 1)]
    oct_, nov = dt.date(2023, 10, 1), dt.date(2023, 11, 1)
    found = storage_idle_candidates(
        [
            disk(oct_, 1.0, 31),
            disk(nov, 4.9, 30),
            disk(oct_, 1.0, 31, "d2"),
            disk(nov, 5.0, 30, "d2"),  # 5 % is not below 5 %
            disk(oct_, 1.0, 20, "d3"),
            disk(nov, 1.0, 30, "d3"),  # October poorly covered
            disk(nov, 1.0, 30, "d4"),
        ],  # only one month of evidence
        rule,
        as_of=as_of,
    )
    assert [(c.vm_id, c.disk_id) for c in found] == [("v", "d1")]
    assert found[0].freed_storage_gb == Decimal("500")
    assert [m["month"] for m in found[0].evidence["months"]] == ["2023-10", "2023-11"]


def test_policy_rejects_bad_bands() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        UtilizationPolicy.model_validate(
            {
                "scores": {
                    "two_point": [{"at_least": 60, "points": 1}, {"at_least": 65, "points": 2}]
                }
            }
        )
