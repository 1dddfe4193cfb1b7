"""``cloudtally collect scrape``: node_exporter-style endpoints scraped directly, no Prometheus.

For sites without a Prometheus server. A target file maps each URL to a VM id;
every ``interval`` seconds each target is scraped and parsed with
prometheus_client's own exposition-format parser. CPU % comes from the change
of ``node_cpu_seconds_total`` between two scrapes (busy = all modes but idle
and iowait, as ``cloudtally node`` counts): the first scrape of a target only
sets the baseline, and a counter that went backwards (the guest rebooted)
resets the baseline instead of giving a negative rate. Memory is
MemAvailable/MemTotal; filesystems are node_filesystem_size - _free per
mountpoint. Sample times are the interval grid, so a restart that scrapes the
same slot again collapses onto the same key.

    source: site1
    interval: 60
    targets:
      - {url: "http://10.0.0.5:9100/metrics", vm_id: vm-0005}
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudtally.collectors import health
from cloudtally.collectors.node import PSEUDO_FS
from cloudtally.core.samples import DiskColumns, SampleColumns

log = logging.getLogger(__name__)
GIB = float(1 << 30)
IDLE_MODES = frozenset({"idle", "iowait"})


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://")
    vm_id: str = Field(min_length=1, max_length=128)


class ScrapeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    interval: int = Field(60, ge=1)
    timeout: float = Field(10, gt=0)
    targets: list[Target] = Field(min_length=1)

    @property
    def name(self) -> str:
        return f"scrape:{self.source}"


def load_targets(path: Path) -> ScrapeConfig:
    try:
        cfg = ScrapeConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"{path}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SystemExit(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    dup = {t.vm_id for t in cfg.targets if sum(u.vm_id == t.vm_id for u in cfg.targets) > 1}
    if dup:
        raise SystemExit(f"{path}: vm_id(s) {sorted(dup)} appear on more than one target")
    return cfg


@dataclass(frozen=True)
class NodeReading:
    """What one scrape says (pure: from exposition text)."""

    cpu_busy: float  # seconds, summed over CPUs
    cpu_total: float
    cpus: int
    mem_total: float | None  # bytes
    mem_available: float | None
    filesystems: dict[str, tuple[float, float]]  # mountpoint -> (size, free) bytes


def parse_node_text(text: str) -> NodeReading:
    busy = total = 0.0
    cpus: set[str] = set()
    mem: dict[str, float] = {}
    size: dict[str, tuple[str, float]] = {}
    free: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "node_cpu_seconds_total":
                total += s.value
                cpus.add(s.labels.get("cpu", ""))
                if s.labels.get("mode") not in IDLE_MODES:
                    busy += s.value
            elif s.name in ("node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes"):
                mem[s.name] = s.value
            elif s.name in ("node_filesystem_size_bytes", "node_filesystem_free_bytes"):
                if s.labels.get("fstype") in PSEUDO_FS:
                    continue
                mp = s.labels.get("mountpoint", "")
                if s.name == "node_filesystem_size_bytes":
                    size[mp] = (s.labels.get("device", mp), s.value)
                else:
                    free[mp] = s.value
    fs: dict[str, tuple[float, float]] = {}
    devices: set[str] = set()
    for mp in sorted(size, key=len):  # one per device: the shortest mountpoint (bind mounts)
        device, sz = size[mp]
        if mp in free and sz > 0 and device not in devices:
            devices.add(device)
            fs[mp] = (sz, free[mp])
    return NodeReading(
        busy,
        total,
        len(cpus),
        mem.get("node_memory_MemTotal_bytes"),
        mem.get("node_memory_MemAvailable_bytes"),
        fs,
    )


@dataclass
class CpuState:
    """Per target: the last reading's counters (the baseline for the next rate)."""

    last: dict[str, NodeReading] = field(default_factory=dict)

    def cpu_pct(self, vm_id: str, r: NodeReading) -> tuple[float | None, str | None]:
        """(CPU %, None), or (None, why): first scrape, counter reset, no time elapsed."""
        prev = self.last.get(vm_id)
        self.last[vm_id] = r
        if r.cpus == 0:
            return None, "no_cpu_metrics"
        if prev is None:
            return None, "first_scrape"
        d_total, d_busy = r.cpu_total - prev.cpu_total, r.cpu_busy - prev.cpu_busy
        if d_total < 0 or d_busy < 0 or r.cpus != prev.cpus:
            return None, "counter_reset"
        if d_total == 0:
            return None, "no_time_elapsed"
        return min(100.0, max(0.0, 100.0 * d_busy / d_total)), None


def mem_pct(r: NodeReading) -> float | None:
    if not r.mem_total or r.mem_available is None:
        return None
    return min(100.0, max(0.0, 100.0 * (1.0 - r.mem_available / r.mem_total)))


def fetch(url: str, timeout: float) -> str:
    req = urllib.request.Request(url, headers={"Accept": "text/plain;version=0.0.4"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return str(r.read().decode("utf-8"))


@dataclass
class Round:
    samples: SampleColumns
    disks: DiskColumns
    errors: dict[str, int]
    allocation: dict[str, dict[str, float]]


def scrape_round(
    cfg: ScrapeConfig, state: CpuState, ts: int, pool: concurrent.futures.Executor
) -> Round:
    """Scrape every target once; the rows of the targets that gave a full reading."""
    futures = {t.vm_id: pool.submit(fetch, t.url, cfg.timeout) for t in cfg.targets}
    vm_l, cpu_l, mem_l = [], [], []
    d_vm, d_id, d_used = [], [], []
    errors: dict[str, int] = {}
    allocation: dict[str, dict[str, float]] = {}
    for vm, fut in futures.items():
        try:
            reading = parse_node_text(fut.result())
        except (OSError, ValueError) as exc:
            log.warning("%s: scrape of %s failed: %s", cfg.name, vm, exc)
            errors["scrape_failed"] = errors.get("scrape_failed", 0) + 1
            continue
        cpu, why = state.cpu_pct(vm, reading)
        mem = mem_pct(reading)
        if reading.cpus and reading.mem_total:
            allocation[vm] = {"vcpu": reading.cpus, "mem_gb": reading.mem_total / GIB}
        for mp, (size, free) in reading.filesystems.items():
            d_vm.append(vm)
            d_id.append(mp)
            d_used.append(round((size - free) / GIB, 3))
        if why is not None or mem is None:
            reason = why or "no_memory_metrics"
            errors[reason] = errors.get(reason, 0) + 1
            continue
        vm_l.append(vm)
        cpu_l.append(cpu)
        mem_l.append(mem)
    samples = SampleColumns(
        np.array(vm_l, dtype=object),
        np.full(len(vm_l), ts, dtype=np.int64),
        np.array(cpu_l, dtype=np.float32),
        np.array(mem_l, dtype=np.float32),
    )
    disks = DiskColumns(
        np.array(d_vm, dtype=object),
        np.array(d_id, dtype=object),
        np.full(len(d_vm), ts, dtype=np.int64),
        np.array(d_used, dtype=np.float64),
    )
    return Round(samples, disks, errors, allocation)


def run(settings: Any, cfg: ScrapeConfig, *, count: int = 0, view: Any = None) -> dict[str, Any]:
    """Scrape every interval (count = 0: until Ctrl-C); the first round is a baseline."""
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.collectors.sender import CollectorSender
    from cloudtally.collectors.storeview import open_store_view

    ensure_topics(settings)
    view = view or open_store_view(settings)
    sender = CollectorSender(settings, cfg.name, wire_format="json")
    state = CpuState()
    stats: dict[str, Any] = {"rounds": 0, "samples": 0, "errors": {}}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(cfg.targets)))
    try:
        while count == 0 or stats["rounds"] < count:
            now = time.time()
            slot = (int(now) // cfg.interval + 1) * cfg.interval
            time.sleep(max(0.0, slot - now))
            known = view.known_vm_ids()
            r = scrape_round(cfg, state, slot, pool)
            unknown = [
                {"reason": f"vm_id {t.vm_id!r} is not in inventory", "target": t.url}
                for t in cfg.targets
                if t.vm_id not in known
            ]
            keep = np.array([v in known for v in r.samples.vm_id], dtype=bool)
            dkeep = np.array([v in known for v in r.disks.vm_id], dtype=bool)
            samples = SampleColumns(*(getattr(r.samples, f)[keep] for f in _S_FIELDS))
            disks = DiskColumns(*(getattr(r.disks, f)[dkeep] for f in _D_FIELDS))
            for reason, n in r.errors.items():
                if reason != "first_scrape":
                    health.error(cfg.name, reason, n)
            if unknown:
                health.error(cfg.name, "unknown_vm", len(unknown))
            errors = sum(n for k, n in r.errors.items() if k == "scrape_failed")
            allocation = {vm: a for vm, a in r.allocation.items() if vm in known}
            sender.send_window(
                samples, disks, slot, slot, unknown=unknown, errors=errors, allocation=allocation
            )
            stats["rounds"] += 1
            stats["samples"] += len(samples)
            for k, n in r.errors.items():
                stats["errors"][k] = stats["errors"].get(k, 0) + n
    except KeyboardInterrupt:
        pass
    finally:
        pool.shutdown(wait=False)
        sender.close()
        view.close()
    return stats


_S_FIELDS = ("vm_id", "ts", "cpu_pct", "mem_pct")
_D_FIELDS = ("vm_id", "disk_id", "ts", "used_gb")
