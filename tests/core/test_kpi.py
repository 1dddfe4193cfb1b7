"""Pool KPI: the seed's pool-1 figures and the band edges."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cloudtally.core.idle import ScoreBands
from cloudtally.core.kpi import band_points, pool_kpi, pool_utilization


def test_seed_pool_one() -> None:
    kpi = pool_kpi(47.4, 64.6, 63.8)
    assert kpi.utilization_pct == Decimal("58.6")
    assert kpi.points_2 == 0
    assert kpi.points_10 == 8
    assert kpi.as_dict()["utilization_pct"] == 58.6


@pytest.mark.parametrize(
    ("util", "two", "ten"),
    [
        ("70.0", 2, 10),
        ("69.9", 2, 9),
        ("65.0", 2, 9),
        ("64.9", 1, 9),
        ("60.0", 1, 9),
        ("59.9", 0, 8),
        ("50.0", 0, 8),
        ("40.0", 0, 7),
        ("30.0", 0, 6),
        ("20.0", 0, 5),
        ("19.9", 0, 0),
        ("0.0", 0, 0),
    ],
)
def test_band_edges(util: str, two: int, ten: int) -> None:
    bands = ScoreBands()
    assert band_points(Decimal(util), bands.two_point) == two
    assert band_points(Decimal(util), bands.ten_point) == ten


def test_a_figure_below_a_threshold_never_earns_the_band() -> None:
    # 60, 60, 59.95 → 59.983… is displayed "60.0" but is below 60: 0 points, not 1
    assert pool_utilization(60.0, 60.0, 59.95) == Decimal("60.0")
    kpi = pool_kpi(60.0, 60.0, 59.95)
    assert kpi.utilization_pct == Decimal("60.0") and kpi.points_2 == 0
    # 19.99 % is below 20: 0 of 10 (a rounded 20.0 would score 5); 69.99 % scores 9, not 10
    assert pool_kpi(19.99, 19.99, 19.99).points_10 == 0
    assert pool_kpi(69.99, 69.99, 69.99).points_10 == 9
    assert pool_kpi(69.99, 69.99, 69.99).utilization_pct == Decimal("70.0")  # display only
    # (0.1 + 0.2)-style float sums do not leak: 65 exactly stays 65
    assert pool_kpi(64.9, 65.1, 65.0).points_2 == 2
    assert pool_kpi(20.0, 20.0, 20.0).points_10 == 5


def test_no_data_is_the_lowest_band() -> None:
    kpi = pool_kpi(47.4, None, 63.8)
    assert kpi.utilization_pct is None
    assert (kpi.points_2, kpi.points_10) == (0, 0)
    assert kpi.mem_pct is None and kpi.cpu_pct == Decimal("47.4")
