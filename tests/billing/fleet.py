"""A small fleet with a hand-computed bill, shared by the billing tests.

Policy (hourly = monthly / 720):
  v1 from 2023-01-01, v2 from 2023-01-16 (00:00 Asia/Shanghai).
  provider p1 (tender 0.55), pool A, monthly list prices:
      v1: vcpu 72 (0.1/h), memory 36 (0.05/h), perf 1.44 (0.002/h), std 0.72 (0.001/h),
          archive 0.144 (0.0002/h)
      v2: vcpu 144 (0.2/h), others unchanged
      volume tiers: basis amount, whole: > 10 -> 2 %, > 20 -> 5 %
  provider p2 (tender 0.55, pool B override 0.50), hourly list prices:
      vcpu 0.12, memory 0.06, perf 0.003, std 0.0015, archive 0.0003
      volume tiers: basis amount, graduated: > 1 -> 10 %, > 3 -> 20 %
  low utilization (both versions): daytime-weighted, cpu_and_mem < 20 %, per day,
      price cut 30 % on vcpu and memory.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from cloudtally.core.policy import Policy, load_policy
from cloudtally.store import Store

SH = dt.timezone(dt.timedelta(hours=8))

_PROVIDERS = """
      - id: p1
        tender_discount: 0.55
        volume_tiers:
          basis: amount
          mode: whole
          tiers: [{{above: 10, cut: 0.02}}, {{above: 20, cut: 0.05}}]
        pools:
          - id: A
            prices:
              vcpu_month: {vcpu}
              memory_month: 36
              storage_performance_month: 1.44
              storage_standard_month: 0.72
              storage_archive_month: 0.144
      - id: p2
        tender_discount: 0.55
        volume_tiers:
          basis: amount
          mode: graduated
          tiers: [{{above: 1, cut: 0.10}}, {{above: 3, cut: 0.20}}]
        pools:
          - id: B
            tender_discount: 0.50
            prices:
              vcpu_hour: 0.12
              memory_hour: 0.06
              storage_performance_hour: 0.003
              storage_standard_hour: 0.0015
              storage_archive_hour: 0.0003
"""

_LOW = """
    low_utilization:
      basis: {basis}
      metric: cpu_and_mem
      threshold_pct: 20
      period: day
      price_cut: 0.30
      applies_to: [vcpu, memory]
"""


def policy_text(basis: str = "daytime_weighted") -> str:
    return (
        "schema: cloudtally.policy/1\nname: test\n"
        "budgets:\n  - fiscal_year: 2023\n    programme: 1000\n    bureaus: {b1: 100, b2: 5}\n"
        "versions:\n"
        '  - version: "v1"\n    effective_from: 2023-01-01\n'
        + _LOW.format(basis=basis)
        + "    providers:"
        + _PROVIDERS.format(vcpu=72)
        + '  - version: "v2"\n    effective_from: 2023-01-16\n'
        + _LOW.format(basis=basis)
        + "    providers:"
        + _PROVIDERS.format(vcpu=144)
    )


def policy(basis: str = "daytime_weighted") -> Policy:
    return load_policy(policy_text(basis))


def local_hour(day: int, hour: int) -> int:
    """Epoch of local 2023-01-<day> <hour>:00 Asia/Shanghai."""
    return int(dt.datetime(2023, 1, day, hour, tzinfo=SH).timestamp())


def _row(vm: str, ts: int, **kw: Any) -> dict[str, Any]:
    base = {
        "vm_id": vm, "hour": ts, "bureau": "b1", "system": "s1", "pool": "A", "provider": "p1",
        "vcpu": 0, "mem_gb": Decimal(0), "storage_gb_performance": Decimal(0),
        "storage_gb_standard": Decimal(0), "storage_gb_archive": Decimal(0),
        "alloc_fraction": 1.0, "samples": 60, "expected_samples": 60, "coverage": 1.0,
        "cpu_avg": 50.0, "cpu_max": 60.0, "cpu_p95": 55.0, "mem_avg": 60.0, "mem_max": 70.0,
        "mem_p95": 65.0, "business_weight": 0.0, "version": 1,
    }  # fmt: skip
    base.update(kw)
    return base


def fleet_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # vm1: p1/A, b1, 4 vCPU, 8 GB, 100 GB performance; 24 h on Jan 15 (v1) and Jan 16 (v2).
    for day in (15, 16):
        for h in range(24):
            rows.append(_row("vm1", local_hour(day, h), vcpu=4, mem_gb=Decimal("8"),
                             storage_gb_performance=Decimal("100"),
                             business_weight=1.0 if 9 <= h < 18 else 0.0))  # fmt: skip
    # vm2: p1/A, b2, 2 vCPU, 4 GB, 50 GB standard + 1000 GB archive; Jan 15 local 08:00-18:30.
    # Daytime it idles (cpu 5, mem 10), at 08:00 and 18:00 it runs batches (80/90, weight 0);
    # 15:00 and 16:00 are metering gaps (NULL), billed on allocation.
    for h in range(8, 19):
        kw: dict[str, Any] = {"bureau": "b2", "system": "s2", "vcpu": 2, "mem_gb": Decimal("4"),
                              "storage_gb_standard": Decimal("50"),
                              "storage_gb_archive": Decimal("1000")}  # fmt: skip
        if h in (8, 18):
            kw.update(cpu_avg=80.0, mem_avg=90.0, business_weight=0.0)
        elif h in (15, 16):
            kw.update(cpu_avg=None, mem_avg=None, cpu_max=None, cpu_p95=None, mem_max=None,
                      mem_p95=None, samples=0, coverage=0.0, business_weight=1.0)  # fmt: skip
        else:
            kw.update(cpu_avg=5.0, mem_avg=10.0, business_weight=1.0)
        if h == 18:
            kw["alloc_fraction"] = 0.5
        rows.append(_row("vm2", local_hour(15, h), **kw))
    # vm3: p2/B, b1, 1 vCPU, 2 GB, 10 GB performance; 24 h on Jan 15 and Jan 16.
    for day in (15, 16):
        for h in range(24):
            rows.append(_row("vm3", local_hour(day, h), provider="p2", pool="B", system="s3",
                             vcpu=1, mem_gb=Decimal("2"), storage_gb_performance=Decimal("10"),
                             cpu_avg=30.0, mem_avg=30.0))  # fmt: skip
    return rows


def insert_usage(store: Store, rows: list[dict[str, Any]]) -> None:
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    store.insert("usage_hourly", cols)


# Expected current lines: (vm, local day, resource) -> (version, list, after discount, after cut)
#
# vm1, Jan 15, v1: vcpu 4×24 = 96 vCPU-h × 72/720 = 9.60; × 0.55 = 5.28 (util 50/60: no cut)
#                  memory 8×24 = 192 GB-h × 36/720 = 9.60; 5.28
#                  perf 100×24 = 2400 GB-h × 1.44/720 = 4.80; 2.64          day total 13.20
# vm1, Jan 16, v2: vcpu 96 × 144/720 = 19.20; × 0.55 = 10.56; memory 5.28; perf 2.64 -> 18.48
# vm2, Jan 15, v1: 10.5 h (the 18:00 hour is half allocated); daytime-weighted metered
#   hours are 09-14 and 17 (cpu 5, mem 10): figure max(5, 10) = 10 % < 20 % -> cut 30 %
#                  vcpu 2×10.5 = 21 × 0.1 = 2.10; ×0.55 = 1.155 -> 1.16; ×0.7 = 0.8085 -> 0.81
#                  memory 4×10.5 = 42 × 0.05 = 2.10; 1.16; 0.81
#                  standard 50×10.5 = 525 × 0.001 = 0.525 -> 0.53 (half-up, not half-even);
#                      ×0.55 = 0.28875 -> 0.29; storage is not cut -> 0.29
#                  archive 1000×10.5 = 10500 × 0.0002 = 2.10; 1.155 -> 1.16; 1.16  day 3.07
# vm3, Jan 15 and 16 (p2/B, tender override 0.50, hourly prices, util 30: no cut):
#                  vcpu 24 × 0.12 = 2.88; 1.44 / memory 48 × 0.06 = 2.88; 1.44 /
#                  perf 240 × 0.003 = 0.72; 0.36                            day 3.24
D = Decimal
EXPECTED: dict[tuple[str, str, str], tuple[str, Decimal, Decimal, Decimal]] = {
    ("vm1", "2023-01-15", "vcpu"): ("v1", D("9.60"), D("5.28"), D("5.28")),
    ("vm1", "2023-01-15", "memory"): ("v1", D("9.60"), D("5.28"), D("5.28")),
    ("vm1", "2023-01-15", "storage_performance"): ("v1", D("4.80"), D("2.64"), D("2.64")),
    ("vm1", "2023-01-16", "vcpu"): ("v2", D("19.20"), D("10.56"), D("10.56")),
    ("vm1", "2023-01-16", "memory"): ("v2", D("9.60"), D("5.28"), D("5.28")),
    ("vm1", "2023-01-16", "storage_performance"): ("v2", D("4.80"), D("2.64"), D("2.64")),
    ("vm2", "2023-01-15", "vcpu"): ("v1", D("2.10"), D("1.16"), D("0.81")),
    ("vm2", "2023-01-15", "memory"): ("v1", D("2.10"), D("1.16"), D("0.81")),
    ("vm2", "2023-01-15", "storage_standard"): ("v1", D("0.53"), D("0.29"), D("0.29")),
    ("vm2", "2023-01-15", "storage_archive"): ("v1", D("2.10"), D("1.16"), D("1.16")),
    ("vm3", "2023-01-15", "vcpu"): ("v1", D("2.88"), D("1.44"), D("1.44")),
    ("vm3", "2023-01-15", "memory"): ("v1", D("2.88"), D("1.44"), D("1.44")),
    ("vm3", "2023-01-15", "storage_performance"): ("v1", D("0.72"), D("0.36"), D("0.36")),
    ("vm3", "2023-01-16", "vcpu"): ("v2", D("2.88"), D("1.44"), D("1.44")),
    ("vm3", "2023-01-16", "memory"): ("v2", D("2.88"), D("1.44"), D("1.44")),
    ("vm3", "2023-01-16", "storage_performance"): ("v2", D("0.72"), D("0.36"), D("0.36")),
}
# Month (Jan 2023) volume tiers:
#   p1 fee = 13.20 + 18.48 + 3.07 = 34.75 > 20 -> whole, 5 %: 1.7375 -> -1.74
#   p2 fee = 3.24 × 2 = 6.48 -> graduated: (3 - 1) × 10 % = 0.20 + (6.48 - 3) × 20 % = 0.696
#          = 0.896 -> -0.90
EXPECTED_TIERS = {"p1": D("-1.74"), "p2": D("-0.90")}
