"""A simulated fleet as a real Prometheus TSDB, built the official way.

The fleet's samples are written as OpenMetrics with node_exporter's metric
names and labels (``instance`` = VM id), turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics``, and served by a real
Prometheus. CPU is a per-CPU ``node_cpu_seconds_total{mode="idle"}`` counter
whose increase over one interval is the idle share the simulator reported, so
``irate`` gives back the simulator's CPU %; memory is MemAvailable/MemTotal;
filesystems are node_filesystem_size_bytes / _free_bytes per mountpoint
(= the simulator's disk id). Used by the collector tests and loadtest/.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from cloudtally.collectors.fleet import Fleet

GIB = 1 << 30
MAX_CPU_SERIES = 4  # per VM: enough to make count() meaningful, small enough for CI


@dataclass
class FleetCounts:
    samples: int  # (vm, ts) rows the simulator produced
    disk_samples: int
    lines: int  # OpenMetrics sample lines written


def _fmt(v: float) -> str:
    return repr(float(v))


def source_yaml(server: str, source: str, step: int, max_points: int = 10_000) -> str:
    """A source file for this TSDB: node_exporter names, irate (one sample per step)."""
    return f"""source: {source}
server: {server}
preset: node_exporter
step: {step}
max_points: {max_points}
vm_label: instance
delay: 0
metrics:
  cpu_pct:
    query: >-
      100 * (1 - sum by (instance)
      (irate(node_cpu_seconds_total{{mode=~"idle|iowait"}}[{int(step * 1.5)}s]))
      / count by (instance) (node_cpu_seconds_total{{mode="idle"}}))
"""


def write_openmetrics(
    fleet: Fleet, t0: int, t1: int, interval: int, disk_interval: int, out: IO[str]
) -> FleetCounts:
    """The fleet's samples in [t0, t1) as OpenMetrics text (one family after another)."""
    chunks = list(fleet.samples(t0, t1, interval, disk_interval=disk_interval))
    vm_idx = np.concatenate([c.vm_index for c in chunks])
    ts = np.concatenate([c.samples.ts for c in chunks])
    cpu = np.concatenate([c.samples.cpu_pct for c in chunks]).astype(np.float64)
    mem = np.concatenate([c.samples.mem_pct for c in chunks]).astype(np.float64)
    d_vm = np.concatenate([c.disk_vm_index for c in chunks])
    d_id = np.concatenate([c.disks.disk_id for c in chunks])
    d_ts = np.concatenate([c.disks.ts for c in chunks])
    d_used = np.concatenate([c.disks.used_gb for c in chunks])
    order = np.lexsort((ts, vm_idx))
    vm_idx, ts, cpu, mem = vm_idx[order], ts[order], cpu[order], mem[order]
    bounds = np.flatnonzero(np.diff(vm_idx)) + 1
    groups = np.split(np.arange(len(ts)), bounds) if len(ts) else []
    lines = 0

    def emit(rows: Iterator[str]) -> None:
        nonlocal lines
        for r in rows:
            out.write(r)
            lines += 1

    out.write("# TYPE node_cpu_seconds counter\n")
    for g in groups:
        v = fleet.vms[int(vm_idx[g[0]])]
        t, inc = ts[g], (1.0 - cpu[g] / 100.0) * interval
        counter = np.cumsum(inc)
        # Before a first sample or a gap, the counter one interval earlier, so irate sees two.
        pre = np.ones(len(t), dtype=bool)
        pre[1:] = np.diff(t) != interval
        pts_t = np.concatenate([t[pre] - interval, t])
        pts_v = np.concatenate([(counter - inc)[pre], counter])
        o = np.argsort(pts_t, kind="stable")
        pts_t, pts_v = pts_t[o], pts_v[o]
        for c in range(min(v.vcpu, MAX_CPU_SERIES)):
            head = (
                f'node_cpu_seconds_total{{instance="{v.vm_id}",job="node",cpu="{c}",mode="idle"}} '
            )
            emit(f"{head}{_fmt(x)} {int(s)}\n" for s, x in zip(pts_t, pts_v, strict=True))
    for family, value in (
        ("node_memory_MemTotal_bytes", lambda v, m: float(v.mem_gb * GIB)),
        ("node_memory_MemAvailable_bytes", lambda v, m: v.mem_gb * GIB * (1.0 - m / 100.0)),
    ):
        out.write(f"# TYPE {family} gauge\n")
        for g in groups:
            v = fleet.vms[int(vm_idx[g[0]])]
            head = f'{family}{{instance="{v.vm_id}",job="node"}} '
            emit(
                f"{head}{_fmt(value(v, m))} {int(s)}\n" for s, m in zip(ts[g], mem[g], strict=True)
            )
    d_order = np.lexsort((d_ts, d_id, d_vm))
    d_vm, d_id, d_ts, d_used = d_vm[d_order], d_id[d_order], d_ts[d_order], d_used[d_order]
    sizes = {d.disk_id: d.size_gb for v in fleet.vms for d in v.disks}
    for family in ("node_filesystem_size_bytes", "node_filesystem_free_bytes"):
        out.write(f"# TYPE {family} gauge\n")
        for i in range(len(d_ts)):
            v = fleet.vms[int(d_vm[i])]
            size = sizes[d_id[i]] * GIB
            x = size if family.endswith("size_bytes") else size - d_used[i] * GIB
            emit(
                iter(
                    (
                        f'{family}{{instance="{v.vm_id}",job="node",device="/dev/{d_id[i]}",'
                        f'fstype="ext4",mountpoint="{d_id[i]}"}} {_fmt(x)} {int(d_ts[i])}\n',
                    )
                )
            )
    out.write("# EOF\n")
    return FleetCounts(samples=len(ts), disk_samples=len(d_ts), lines=lines)


def build_tsdb(openmetrics: Path, tsdb: Path, promtool: str = "promtool") -> None:
    """promtool tsdb create-blocks-from openmetrics FILE DIR (the official backfill)."""
    tsdb.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(tsdb)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"promtool failed: {proc.stderr[-2000:] or proc.stdout[-2000:]}")
