"""A two-week simulated fleet, generated once for the collector tests.

The range 2025-09-29 .. 2025-10-13 (Asia/Shanghai) contains the National Day
holiday (weekdays that are not working days) and the make-up Saturday 2025-10-11.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cloudtally.collectors.fleet import Fleet

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = int(dt.datetime(2025, 9, 29, tzinfo=SHANGHAI).timestamp())
END = int(dt.datetime(2025, 10, 13, tzinfo=SHANGHAI).timestamp())
INTERVAL = 300


@dataclass
class FleetData:
    fleet: Fleet
    vm: np.ndarray  # VM index per sample
    vm_id: np.ndarray
    ts: np.ndarray
    cpu: np.ndarray
    mem: np.ndarray
    disk_vm: np.ndarray
    disk_id: np.ndarray
    disk_ts: np.ndarray
    used_gb: np.ndarray


def collect(fleet: Fleet, t0: int, t1: int, interval: int, **kw: int) -> FleetData:
    chunks = list(fleet.samples(t0, t1, interval, **kw))

    def cat(get: object) -> np.ndarray:
        return np.concatenate([get(c) for c in chunks])  # type: ignore[operator]

    return FleetData(
        fleet,
        cat(lambda c: c.vm_index),
        cat(lambda c: c.samples.vm_id),
        cat(lambda c: c.samples.ts),
        cat(lambda c: c.samples.cpu_pct),
        cat(lambda c: c.samples.mem_pct),
        cat(lambda c: c.disk_vm_index),
        cat(lambda c: c.disks.disk_id),
        cat(lambda c: c.disks.ts),
        cat(lambda c: c.disks.used_gb),
    )


@pytest.fixture(scope="session")
def two_weeks() -> FleetData:
    fleet = Fleet.build(7, 90, 2, 12, start=START, end=END)
    return collect(fleet, START, END, INTERVAL, chunk_rows=60_000)
