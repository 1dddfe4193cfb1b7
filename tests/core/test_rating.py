"""The int64 rating core agrees with the Decimal definition to the fen, on any input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtally.core.policy import load_policy
from cloudtally.core.rating import DayUsage, UtilizationDays, rate, reference_amounts
from cloudtally.core.tariff import TariffTable

POLICY = """
schema: cloudtally.policy/1
name: t
versions:
  - version: v1
    effective_from: 2023-01-01
    hours_per_month: {hpm}
    low_utilization: {{threshold_pct: 20, price_cut: {cut}, period: day, basis: all_hours}}
    providers:
      - id: p
        tender_discount: {tender}
        pools:
          - id: a
            prices:
              vcpu_{per}: {price}
              memory_month: 0.123457
              storage_performance_hour: 0.000001
              storage_standard_month: 999999.999999
              storage_archive_month: 1
"""

prices = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("99999"), places=6)
ratios = st.decimals(min_value=Decimal("0"), max_value=Decimal("1"), places=4)


def _usage(q: dict[str, list[int]], n: int) -> DayUsage:
    obj = np.array([f"vm{i}" for i in range(n)], dtype=object)
    return DayUsage(
        vm_id=obj,
        day=np.full(n, 19372),
        version_index=np.zeros(n, dtype=np.int64),
        bureau=np.full(n, "b", dtype=object),
        system=np.full(n, "s", dtype=object),
        pool=np.full(n, "a", dtype=object),
        provider=np.full(n, "p", dtype=object),
        hours_e4=np.full(n, 240000),
        unmetered_hours=np.zeros(n, dtype=np.int64),
        quantities={k: np.array(v, dtype=np.int64) for k, v in q.items()},
    )


def _util(n: int, cpu: list[float]) -> UtilizationDays:
    ones = np.full(n, 24.0)
    sums = {c: ones.copy() for c in ("d_w_cpu", "d_n_cpu", "d_w_mem", "d_n_mem")}
    sums.update(
        d_x_cpu=np.array(cpu) * 24, d_x_mem=np.array(cpu) * 24, a_x_cpu=np.array(cpu) * 24,
        a_n_cpu=ones, a_x_mem=np.array(cpu) * 24, a_n_mem=ones,
    )  # fmt: skip
    return UtilizationDays(np.array([f"vm{i}" for i in range(n)], dtype=object),
                           np.full(n, 19372), sums)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    price=prices,
    tender=ratios,
    cut=ratios,
    per=st.sampled_from(["hour", "month"]),
    hpm=st.sampled_from([720, 730, 744]),
    qs=st.lists(st.integers(min_value=1, max_value=10**15), min_size=1, max_size=25),
    cpu=st.floats(min_value=0, max_value=100),
)
def test_vectorised_amounts_equal_decimal_reference(
    price: Decimal, tender: Decimal, cut: Decimal, per: str, hpm: int, qs: list[int], cpu: float
) -> None:
    policy = load_policy(POLICY.format(price=price, tender=tender, cut=cut, per=per, hpm=hpm))
    tariff = TariffTable(policy)
    n = len(qs)
    resources = ["vcpu", "memory", "storage_performance", "storage_standard", "storage_archive"]
    usage = _usage({r: qs for r in resources}, n)
    lines = rate(tariff, usage, _util(n, [cpu] * n))
    assert len(lines) == n * len(resources)
    for i in range(len(lines)):
        term = tariff.terms[int(lines.term_id[i])]
        ref = reference_amounts(int(lines.quantity_e7[i]), term, bool(lines.cut_applied[i]))
        got = tuple(Decimal(int(x[i])) / 100 for x in (lines.list_fen, lines.discount_fen,
                                                         lines.cut_fen))  # fmt: skip
        assert got == ref, (term, int(lines.quantity_e7[i]))
        low = round(cpu, 2) < 20
        assert bool(lines.cut_applied[i]) == (low and term.resource in ("vcpu", "memory"))


def test_half_up_not_half_even() -> None:
    # 525 GB-h at 0.001 CNY/GB-h = 0.525 -> 0.53 (half-even would give 0.52).
    policy = load_policy(
        POLICY.format(price="0.001", tender="0.55", cut="0.3", per="hour", hpm=720)
    )
    lines = rate(TariffTable(policy), _usage({"vcpu": [525 * 10**7]}, 1), None)
    assert (int(lines.list_fen[0]), int(lines.discount_fen[0])) == (53, 29)
    assert not lines.cut_applied[0]  # no utilization evidence: no cut


def test_lines_split_by_version_and_unpriced_reported() -> None:
    text = POLICY.format(price="0.1", tender="0.5", cut="0.3", per="hour", hpm=720)
    v2 = text.split("versions:\n")[1].replace("version: v1", "version: v2").replace(
        "2023-01-01", "2023-02-01").replace("vcpu_hour: 0.1", "vcpu_hour: 0.2")  # fmt: skip
    policy = load_policy(text + v2)
    usage = _usage({"vcpu": [10 * 10**7, 10 * 10**7, 5 * 10**7]}, 3)
    usage.version_index = np.array([0, 1, 1])
    usage.pool = np.array(["a", "a", "zz"], dtype=object)
    lines = rate(TariffTable(policy), usage, None)
    assert list(lines.tariff_version) == ["v1", "v2"]
    assert list(lines.list_fen) == [100, 200]
    assert lines.unpriced == [("vm2", "p", "zz", "vcpu", 5 * 10**7)]
    assert dt.date(1970, 1, 1) + dt.timedelta(days=int(lines.day[0])) == dt.date(2023, 1, 15)
