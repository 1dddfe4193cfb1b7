"""Capacity-weighted daytime / all-hours / night-only utilization."""

from __future__ import annotations

import numpy as np
import pytest

from cloudtally.core.utilization import (
    UtilizationSplit,
    group_utilization,
    is_night_heavy,
    split_utilization,
    weighted_utilization,
)


def test_gap_is_excluded_not_zero() -> None:
    u = np.array([10.0, np.nan, 30.0])
    assert weighted_utilization(u, np.ones(3), np.ones(3)) == 20.0
    assert weighted_utilization(np.array([np.nan]), np.ones(1), np.ones(1)) is None


def test_capacity_weighting_across_vms() -> None:
    # a 64-vCPU VM at 10 % and a 1-vCPU VM at 90 %: the pool is mostly idle
    u = np.array([10.0, 90.0])
    cap = np.array([64.0, 1.0])
    assert weighted_utilization(u, cap, np.ones(2)) == pytest.approx((640 + 90) / 65)
    g = group_utilization(
        ["b", "a", "b"], np.array([10.0, 50.0, 30.0]), np.array([1.0, 2.0, 3.0]), np.ones(3)
    )
    assert list(g) == ["a", "b"]
    assert g["b"] == pytest.approx((10 + 90) / 4)


def test_seed_night_batch_vm_split() -> None:
    # 24 hours: business hours at 2 %, night hours (00–06, 22–24) at 15 %, rest at 4 %
    hours = np.arange(24)
    business = np.where(((hours >= 9) & (hours < 12)) | ((hours >= 14) & (hours < 18)), 1.0, 0.0)
    night = np.where((hours < 6) | (hours >= 22), 1.0, 0.0)
    util = np.where(business > 0, 2.0, np.where(night > 0, 15.0, 4.0))
    split = split_utilization(util, np.full(24, 4.0), np.ones(24), business, night)
    assert split.day == pytest.approx(2.0)
    assert split.night == pytest.approx(15.0)
    assert split.all == pytest.approx(util.mean())
    assert is_night_heavy(split)
    assert not is_night_heavy(UtilizationSplit(day=8.0, all=9.0, night=12.0))
    assert not is_night_heavy(UtilizationSplit(day=None, all=None, night=None))


def test_alloc_fraction_weighs_partial_hours() -> None:
    split = split_utilization(
        np.array([50.0, 10.0]), np.array([2.0, 2.0]), np.array([0.25, 1.0]), np.ones(2), np.zeros(2)
    )
    assert split.all == pytest.approx((50 * 0.5 + 10 * 2) / 2.5)
    assert split.night is None
