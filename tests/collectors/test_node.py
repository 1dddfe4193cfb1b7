"""The node collector: /proc parsing on fixture text, and once on this host's real /proc."""

from __future__ import annotations

import os
import time

import jsonschema
import orjson
import pytest

from cloudtally.collectors import node
from cloudtally.core.samples import decode_batch, encode_batch

from .test_messages import validator

STAT_A = """cpu  100 5 50 800 20 3 2 0 0 0
cpu0 50 2 25 400 10 1 1 0 0 0
intr 12345
ctxt 999
"""
STAT_B = """cpu  160 5 70 900 40 3 2 0 30 0
cpu0 80 2 35 450 20 1 1 0 15 0
"""
MEMINFO = """MemTotal:       16384000 kB
MemFree:         1024000 kB
MemAvailable:    4096000 kB
Buffers:          100000 kB
"""
MOUNTS = """proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,nosuid 0 0
/dev/vda1 / ext4 rw,relatime 0 0
tmpfs /run tmpfs rw,nosuid 0 0
/dev/vdb1 /data\\040disk xfs rw,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0
/dev/vda1 / ext4 rw,relatime 0 0
"""


def test_parse_proc_stat_and_cpu_pct() -> None:
    a, b = node.parse_proc_stat(STAT_A), node.parse_proc_stat(STAT_B)
    assert a.total == 100 + 5 + 50 + 800 + 20 + 3 + 2
    assert a.busy == a.total - 800 - 20
    # guest (30) is part of user already: not counted twice
    assert b.total == 160 + 5 + 70 + 900 + 40 + 3 + 2
    # delta busy = (160+5+70+3+2) - (100+5+50+3+2) = 80; delta total = 80 + 100 + 20 = 200
    assert node.cpu_pct(a, b) == pytest.approx(40.0)
    assert node.cpu_pct(a, a) == 0.0
    with pytest.raises(ValueError):
        node.parse_proc_stat("intr 1\n")


def test_parse_meminfo() -> None:
    total, avail = node.parse_meminfo(MEMINFO)
    assert total == 16384000 * 1024 and avail == 4096000 * 1024
    assert node.mem_pct(total, avail) == pytest.approx(75.0)
    # old kernels without MemAvailable fall back to MemFree
    assert node.parse_meminfo("MemTotal: 100 kB\nMemFree: 25 kB\n") == (102400, 25600)
    with pytest.raises(ValueError):
        node.parse_meminfo("MemFree: 1 kB\n")


def test_parse_mounts_skips_pseudo_filesystems() -> None:
    mounts = node.parse_mounts(MOUNTS)
    assert [m.mountpoint for m in mounts] == [
        "/",
        "/data disk",
        "/var/lib/docker/overlay2/x/merged",
    ]
    assert mounts[1].fstype == "xfs" and mounts[1].device == "/dev/vdb1"


def test_fs_usage_like_df() -> None:
    st = os.statvfs_result((4096, 4096, 1000, 400, 300, 0, 0, 0, 0, 255))
    u = node.fs_usage("/x", st)
    assert u.size_gb == pytest.approx(1000 * 4096 / 2**30)
    assert u.used_gb == pytest.approx(600 * 4096 / 2**30)


def test_real_proc_of_this_host() -> None:
    before = node.read_cpu_times()
    time.sleep(0.2)
    after = node.read_cpu_times()
    assert after.total > before.total
    pct = node.cpu_pct(before, after)
    assert 0.0 <= pct <= 100.0
    total, avail = node.read_memory()
    assert total > 0 and 0 <= avail <= total
    fss = node.read_filesystems()
    assert any(f.mountpoint == "/" for f in fss)
    assert all(0 <= f.used_gb <= f.size_gb for f in fss)

    now = int(time.time())
    event = node.inventory_event("node-test", now)
    jsonschema.validate(orjson.loads(event.to_json()), validator("inventory").schema)
    assert event.vcpu == os.cpu_count() and event.mem_gb > 0
    assert {d.disk_id for d in event.disks} == {f.mountpoint for f in fss}

    samples, disks = node.sample("node-test", now, before, after)
    raw = encode_batch(
        "node",
        samples.vm_id,
        samples.ts,
        samples.cpu_pct,
        samples.mem_pct,
        disks={
            "vm_id": disks.vm_id,
            "disk_id": disks.disk_id,
            "ts": disks.ts,
            "used_gb": disks.used_gb,
        },
    )
    validator("samples").validate(orjson.loads(raw))
    out = decode_batch(raw, now=now)
    assert out.rejects == [] and len(out.samples) == 1 and len(out.disks) == len(fss)
