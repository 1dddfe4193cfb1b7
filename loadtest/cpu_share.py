"""Who used the cores during a benchmark phase: CPU seconds per process (or thread).

Why (issue 14, "ingest with the API under load"): a slower ingest under API load is
either CPU share — two cores, and the API, its clients and other jobs use some — or
contention the code causes (a lock held by reads, the GIL). Counting each part's CPU
seconds, the machine's busy cores and what nobody of ours used tells them apart: the
ingest losing CPU time while the machine is saturated is share; the ingest idle while
cores are free is contention.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import psutil


def _process_cpu(pid: int, children: bool = True) -> float:
    """User + system seconds of a process and (unless told not to) its children."""
    try:
        p = psutil.Process(pid)
        total = sum(p.cpu_times()[:2])
        for c in p.children(recursive=True) if children else []:
            with contextlib.suppress(psutil.Error):
                total += sum(c.cpu_times()[:2])
        return float(total)
    except psutil.Error:
        return 0.0


def _thread_cpu(pid: int, tid: int) -> float:
    try:
        for t in psutil.Process(pid).threads():
            if t.id == tid:
                return float(t.user_time + t.system_time)
    except psutil.Error:
        pass
    return 0.0


@dataclass
class CpuShare:
    """``processes``: name -> pid; ``threads``: name -> (pid, native thread id), whose
    CPU is taken out of its process's figure (so an embedded worker's ingest thread and
    the rest of its process are told apart). A process in ``alone`` is counted without
    its children (the benchmark itself, whose children are the other parts)."""

    processes: dict[str, int] = field(default_factory=dict)
    threads: dict[str, tuple[int, int]] = field(default_factory=dict)
    alone: set[str] = field(default_factory=set)  # processes counted without children

    def snapshot(self) -> dict[str, float]:
        snap = {
            name: _process_cpu(pid, children=name not in self.alone)
            for name, pid in self.processes.items()
        }
        for name, (pid, tid) in self.threads.items():
            snap[name] = _thread_cpu(pid, tid)
            owner = next((n for n, p in self.processes.items() if p == pid), None)
            if owner is not None:
                snap[owner] -= snap[name]
        busy = psutil.cpu_times()
        snap["_machine_busy"] = float(sum(busy) - busy.idle - getattr(busy, "iowait", 0.0))
        snap["_t"] = time.monotonic()
        return snap

    @staticmethod
    def between(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        """Cores used per part over the phase (CPU seconds / wall seconds), the machine's
        busy cores, and ``others``: busy cores none of the parts account for."""
        wall = max(b["_t"] - a["_t"], 1e-9)
        out = {k: round((b[k] - a[k]) / wall, 3) for k in a if not k.startswith("_")}
        out["machine_busy_cores"] = round((b["_machine_busy"] - a["_machine_busy"]) / wall, 3)
        out["others"] = round(out["machine_busy_cores"] - sum(
            v for k, v in out.items() if k != "machine_busy_cores"), 3)  # fmt: skip
        out["seconds"] = round(wall, 1)
        return out
