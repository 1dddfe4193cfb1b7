"""``cloudtally node``: this host's real CPU, memory and filesystem usage, as one VM.

Why: a real source next to the simulator, the same way an in-guest agent would
meter a government VM independently of the provider. Parsing is pure (text in,
numbers out) so it is unit-tested on fixture text; only the ``read_*``
functions touch /proc.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from cloudtally.core.inventory import Disk, InventoryEvent
from cloudtally.core.samples import DiskColumns, SampleColumns
from cloudtally.settings import Settings

log = logging.getLogger(__name__)
GIB = 1 << 30

# Filesystems that hold no billable storage.
# fmt: off
PSEUDO_FS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs",
        "devpts", "devtmpfs", "efivarfs", "fusectl", "fuse.lxcfs", "fuse.portal",
        "hugetlbfs", "mqueue", "nsfs", "proc", "pstore", "ramfs", "rpc_pipefs",
        "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "nfsd",
    }
)  # overlay (a container's root) is real storage and is kept
# fmt: on


@dataclass(frozen=True)
class CpuTimes:
    busy: int  # jiffies not idle/iowait
    total: int


@dataclass(frozen=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str


@dataclass(frozen=True)
class FsUsage:
    mountpoint: str
    size_gb: float
    used_gb: float


# ------------------------------------------------------------------ parsing (pure)
def parse_proc_stat(text: str) -> CpuTimes:
    """Aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal.

    guest/guest_nice are already included in user/nice, so they are not added again.
    """
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:]]
            fields += [0] * (8 - len(fields))
            user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
            total = user + nice + system + idle + iowait + irq + softirq + steal
            return CpuTimes(busy=total - idle - iowait, total=total)
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def cpu_pct(before: CpuTimes, after: CpuTimes) -> float:
    """Busy share of the elapsed jiffies, in percent (0 when no time elapsed)."""
    dt = after.total - before.total
    if dt <= 0:
        return 0.0
    return min(100.0, max(0.0, 100.0 * (after.busy - before.busy) / dt))


def parse_meminfo(text: str) -> tuple[int, int]:
    """(MemTotal, MemAvailable) in bytes from /proc/meminfo."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if name in ("MemTotal", "MemAvailable", "MemFree") and parts:
            scale = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            values[name] = int(parts[0]) * scale
    if "MemTotal" not in values:
        raise ValueError("MemTotal missing from /proc/meminfo")
    available = values.get("MemAvailable", values.get("MemFree", 0))
    return values["MemTotal"], available


def mem_pct(total: int, available: int) -> float:
    return 0.0 if total <= 0 else min(100.0, max(0.0, 100.0 * (total - available) / total))


def parse_mounts(text: str) -> list[Mount]:
    """Real filesystems from /proc/mounts, first mount of each mountpoint, pseudo fs skipped."""
    out: list[Mount] = []
    seen: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mountpoint, fstype = parts[0], _unescape(parts[1]), parts[2]
        if fstype in PSEUDO_FS or mountpoint in seen:
            continue
        seen.add(mountpoint)
        out.append(Mount(device, mountpoint, fstype))
    return out


def _unescape(path: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(esc, ch)
    return path


def fs_usage(mountpoint: str, st: os.statvfs_result) -> FsUsage:
    """Size and used space like df: used = blocks - free (root-reserved counts as free)."""
    size = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return FsUsage(mountpoint, size / GIB, used / GIB)


# ------------------------------------------------------------------ reading (I/O)
def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def read_cpu_times() -> CpuTimes:
    return parse_proc_stat(_read("/proc/stat"))


def read_memory() -> tuple[int, int]:
    return parse_meminfo(_read("/proc/meminfo"))


def read_filesystems() -> list[FsUsage]:
    """statvfs of each real mount, one per device (bind mounts of the same fs dropped)."""
    out: list[FsUsage] = []
    devices: set[int] = set()
    for m in parse_mounts(_read("/proc/mounts")):
        try:
            if not os.path.isdir(m.mountpoint):
                continue  # a bind-mounted file (e.g. /etc/hosts in a container)
            dev = os.stat(m.mountpoint).st_dev
            st = os.statvfs(m.mountpoint)
        except OSError:
            continue
        if dev in devices or st.f_blocks == 0:
            continue
        devices.add(dev)
        out.append(fs_usage(m.mountpoint, st))
    return out


def inventory_event(vm_id: str, ts: int, event: str = "created") -> InventoryEvent:
    total, _ = read_memory()
    disks = [
        Disk(disk_id=f.mountpoint, size_gb=Decimal(f"{f.size_gb:.3f}"), tier="standard")
        for f in read_filesystems()
        if f.size_gb >= 0.001
    ]
    return InventoryEvent.model_validate(
        {
            "event": event,
            "vm_id": vm_id,
            "ts": ts,
            "name": socket.gethostname(),
            "bureau": "local",
            "system": "node",
            "pool": "local",
            "provider": "self",
            "vcpu": os.cpu_count() or 1,
            "mem_gb": Decimal(f"{total / GIB:.3f}"),
            "disks": disks,
        }
    )


def sample(
    vm_id: str, ts: int, before: CpuTimes, after: CpuTimes
) -> tuple[SampleColumns, DiskColumns]:
    total, available = read_memory()
    fss = read_filesystems()
    samples = SampleColumns(
        np.array([vm_id], dtype=object),
        np.array([ts], dtype=np.int64),
        np.array([cpu_pct(before, after)], dtype=np.float32),
        np.array([mem_pct(total, available)], dtype=np.float32),
    )
    disks = DiskColumns(
        np.array([vm_id] * len(fss), dtype=object),
        np.array([f.mountpoint for f in fss], dtype=object),
        np.full(len(fss), ts, dtype=np.int64),
        np.array([round(f.used_gb, 3) for f in fss], dtype=np.float64),
    )
    return samples, disks


def run_cli(settings: Settings, vm_id: str, interval: float, count: int) -> None:
    """Send an inventory event, then one sample per interval (count = 0: until Ctrl-C)."""
    _quiet_kafka()
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.collectors.delivery import OutboxTimeout
    from cloudtally.collectors.producer import InventoryProducer, SampleProducer

    vm_id = vm_id or f"node-{socket.gethostname()}"
    ensure_topics(settings)
    with InventoryProducer(
        settings.kafka_bootstrap, settings.topic_inventory, source="node"
    ) as inv:
        inv.send(inventory_event(vm_id, int(time.time())))
    sent = 0
    with SampleProducer(
        settings.kafka_bootstrap,
        settings.topic_samples,
        source="node",
        wire_format="json",  # one sample a tick: readability beats decode speed
        linger_ms=0,
    ) as sp:
        before = read_cpu_times()
        try:
            while count == 0 or sent < count:
                time.sleep(interval)
                after = read_cpu_times()
                samples, disks = sample(vm_id, int(time.time()), before, after)
                before = after
                sp.send_chunk(samples, disks)
                try:  # keep measuring while the broker is away; the outbox keeps the rest
                    sp.flush(timeout=max(interval, 1.0))
                except OutboxTimeout as exc:
                    log.warning("broker not acknowledging (%s); samples kept for re-send", exc)
                sent += 1
                log.info("%s cpu %.1f%% mem %.1f%%", vm_id, samples.cpu_pct[0], samples.mem_pct[0])
        except KeyboardInterrupt:
            pass
    from cloudtally.i18n import cli_lang, translate

    _ = translate(cli_lang())  # a summary a person reads, not a log line
    print(_("cli.out.node.sent", vm_id=vm_id, sent=sent, topic=settings.topic_samples))


def _quiet_kafka() -> None:
    """kafka-python logs every connection at INFO; keep the CLI output readable."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("kafka").setLevel(logging.WARNING)
