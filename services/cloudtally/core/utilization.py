"""Daytime-weighted, all-hours and night-only utilization.

Definition (the same in this module, in the SQL rollups and in the API): over a
set of VM-hours *h* that have at least one sample (a gap is excluded, never
counted as zero),

    U = Σ u_h · c_h · f_h · w_h  /  Σ c_h · f_h · w_h

where u_h is the hour's mean CPU (or memory) utilization in %, c_h the
allocated capacity (vCPU, or GB of memory), f_h the share of the hour the VM
existed (``alloc_fraction``) and w_h the hour weight: the business-hours weight
for the **daytime** figure, 1 for the **all-hours** figure, the night-window
fraction of the hour for the **night-only** figure. For one VM with a constant
size this is the hour-weighted mean; over a system, bureau, pool or provider it
is the capacity-weighted mean, so a 64-vCPU VM weighs 64 times a 1-vCPU VM.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np


def weighted_utilization(
    util: np.ndarray, capacity: np.ndarray, weight: np.ndarray
) -> float | None:
    """Σ(u·c·w)/Σ(c·w) over entries with a value (u not NaN); None without evidence.

    ``capacity`` already includes the alloc fraction (c·f); ``weight`` is w.
    """
    u = np.asarray(util, dtype=np.float64)
    cw = np.asarray(capacity, dtype=np.float64) * np.asarray(weight, dtype=np.float64)
    ok = ~np.isnan(u) & (cw > 0)
    den = float(cw[ok].sum())
    if den <= 0:
        return None
    return float((u[ok] * cw[ok]).sum() / den)


@dataclass(frozen=True)
class UtilizationSplit:
    """The three figures side by side, in % (None = no metered hour with weight)."""

    day: float | None
    all: float | None
    night: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"day": self.day, "all": self.all, "night": self.night}


def split_utilization(
    util: np.ndarray,
    capacity: np.ndarray,
    alloc_fraction: np.ndarray,
    business_weight: np.ndarray,
    night_fraction: np.ndarray,
) -> UtilizationSplit:
    """Daytime, all-hours and night-only utilization of a set of VM-hours."""
    cap = np.asarray(capacity, dtype=np.float64) * np.asarray(alloc_fraction, dtype=np.float64)
    ones = np.ones_like(cap)
    return UtilizationSplit(
        day=weighted_utilization(util, cap, np.asarray(business_weight, dtype=np.float64)),
        all=weighted_utilization(util, cap, ones),
        night=weighted_utilization(util, cap, np.asarray(night_fraction, dtype=np.float64)),
    )


def group_utilization(
    keys: Sequence[Hashable],
    util: np.ndarray,
    capacity: np.ndarray,
    weight: np.ndarray,
) -> dict[Hashable, float | None]:
    """Capacity-weighted utilization per group key (e.g. per bureau), sorted by key."""
    out: dict[Hashable, float | None] = {}
    k = np.asarray(keys, dtype=object)
    for key in sorted(set(keys), key=str):
        m = k == key
        out[key] = weighted_utilization(
            np.asarray(util)[m], np.asarray(capacity)[m], np.asarray(weight)[m]
        )
    return out


def is_night_heavy(split: UtilizationSplit, ratio: float = 2.0, floor_pct: float = 10.0) -> bool:
    """Sizing driven by night work: night figure ≥ floor and ≥ ratio × the daytime figure.

    The seed's market-regulation VM (≈2 % by day, >10 % at night) is the example.
    """
    if split.night is None or split.day is None:
        return False
    return split.night >= floor_pct and split.night >= ratio * split.day
