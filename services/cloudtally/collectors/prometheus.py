"""``cloudtally collect prometheus``: utilization from a Prometheus server's HTTP API.

Backfill ``--from .. --to`` in windows of at most ``max_points`` steps (Prometheus
refuses more than 11,000 points per series), then follow real time. Sample times
are multiples of the step, so a window fetched twice gives the same (vm, ts)
keys and the store's ReplacingMergeTree keeps one row. After each window the
collector sends a heartbeat to every samples partition; a restart resumes after
the watermark those stored beats prove (core.heartbeat), never after what it
merely sent. Series whose VM is not in inventory are counted and dead-lettered.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloudtally.collectors import health
from cloudtally.collectors.promsource import PromSource
from cloudtally.core.samples import DiskColumns, SampleColumns

log = logging.getLogger(__name__)


class PromQueryError(RuntimeError):
    """Prometheus refused the query itself (bad PromQL, too many points): not retried."""


class PromUnavailable(RuntimeError):
    """The server could not answer after all retries."""


@dataclass
class Series:
    labels: dict[str, str]
    ts: np.ndarray  # int64 epoch s
    values: np.ndarray  # float64


class PromClient:
    """query_range over urllib with retry and exponential backoff; times its own waiting."""

    def __init__(
        self,
        server: str,
        *,
        timeout: float = 60,
        retries: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.server = server.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self.query_seconds = 0.0  # wall time spent waiting on Prometheus
        self.queries = 0

    def _call(self, path: str, params: dict[str, str]) -> Any:
        body = urllib.parse.urlencode(params).encode()
        delay = self.backoff
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(delay)
                delay = min(delay * 2, 30.0)
            t0 = time.perf_counter()
            try:
                req = urllib.request.Request(
                    self.server + path,
                    data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    doc = json.loads(r.read())
            except urllib.error.HTTPError as exc:
                doc = _error_doc(exc)
                if exc.code in (400, 422) and doc.get("errorType") in ("bad_data", None):
                    raise PromQueryError(
                        f"{params.get('query')}: {doc.get('error', exc)}"
                    ) from None
                last = exc
                continue
            except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
                last = exc
                continue
            finally:
                self.query_seconds += time.perf_counter() - t0
                self.queries += 1
            if doc.get("status") == "success":
                return doc["data"]
            if doc.get("errorType") in ("bad_data",):
                raise PromQueryError(f"{params.get('query')}: {doc.get('error')}")
            last = RuntimeError(f"{doc.get('errorType')}: {doc.get('error')}")
        raise PromUnavailable(f"{self.server}{path}: {last}")

    def query_range(self, query: str, start: int, end: int, step: int) -> list[Series]:
        data = self._call(
            "/api/v1/query_range",
            {"query": query, "start": str(start), "end": str(end), "step": f"{step}s"},
        )
        if data.get("resultType") != "matrix":
            raise PromQueryError(f"{query}: expected a range vector, got {data.get('resultType')}")
        out = []
        for item in data["result"]:
            vals = item["values"]
            ts = np.array([round(float(v[0])) for v in vals], dtype=np.int64)
            values = np.array([float(v[1]) for v in vals], dtype=np.float64)
            out.append(Series(dict(item["metric"]), ts, values))
        return out


def _error_doc(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        doc = json.loads(exc.read())
        return doc if isinstance(doc, dict) else {}
    except (ValueError, OSError):
        return {}


def windows(start: int, end: int, step: int, max_points: int) -> list[tuple[int, int]]:
    """[start, end] (both multiples of step) cut into windows of at most max_points points."""
    out = []
    t = start
    span = (max_points - 1) * step
    while t <= end:
        w_end = min(end, t + span)
        out.append((t, w_end))
        t = w_end + step
    return out


def align_up(t: int, step: int) -> int:
    return -(-t // step) * step


def align_down(t: int, step: int) -> int:
    return (t // step) * step


@dataclass
class Window:
    """One window's result, ready to send."""

    start: int
    end: int
    samples: SampleColumns
    disks: DiskColumns
    unknown: list[dict[str, Any]] = field(default_factory=list)  # dead letters to send
    partial_rows: int = 0  # (vm, ts) with CPU but no memory or the reverse
    invalid_points: int = 0  # NaN / infinite values Prometheus returned
    allocation: dict[str, dict[str, float]] = field(default_factory=dict)  # vm -> vcpu, mem_gb


def _clamp_pct(v: np.ndarray) -> np.ndarray:
    """A rate over a counter can overshoot [0, 100] by float error: bound it."""
    return np.clip(v, 0.0, 100.0)


def collect_window(
    src: PromSource, client: PromClient, start: int, end: int, known: set[str] | None
) -> Window:
    """Query every metric for [start, end]; join CPU and memory by (vm, ts)."""
    queries = src.queries()
    unknown: dict[str, dict[str, Any]] = {}
    invalid = 0

    def by_vm(name: str) -> dict[str, list[Series]]:
        nonlocal invalid
        out: dict[str, list[Series]] = defaultdict(list)
        for s in client.query_range(queries[name].query, start, end, src.step):
            vm = src.vm_id(s.labels)
            if vm is None or (known is not None and vm not in known):
                key = json.dumps(s.labels, sort_keys=True)
                reason = (
                    f"series has no {src.label!r} label matching the VM id"
                    if vm is None
                    else f"vm_id {vm!r} is not in inventory"
                )
                d = unknown.setdefault(
                    key, {"reason": reason, "labels": s.labels, "metrics": [], "points": 0}
                )
                d["metrics"].append(name)
                d["points"] += len(s.ts)
                continue
            ok = np.isfinite(s.values)
            invalid += int((~ok).sum())
            out[vm].append(Series(s.labels, s.ts[ok], s.values[ok]))
        return out

    cpu = by_vm("cpu_pct")
    mem = by_vm("mem_pct")
    vm_ids: list[str] = []
    ts_l: list[np.ndarray] = []
    cpu_l: list[np.ndarray] = []
    mem_l: list[np.ndarray] = []
    partial = 0
    for vm in sorted(set(cpu) | set(mem)):
        c = _one(cpu.get(vm, []))
        m = _one(mem.get(vm, []))
        both, ci, mi = np.intersect1d(c.ts, m.ts, assume_unique=True, return_indices=True)
        partial += len(c.ts) + len(m.ts) - 2 * len(both)
        if len(both):
            vm_ids.append(vm)
            ts_l.append(both)
            cpu_l.append(_clamp_pct(c.values[ci]))
            mem_l.append(_clamp_pct(m.values[mi]))
    counts = [len(t) for t in ts_l]
    samples = SampleColumns(
        np.repeat(np.array(vm_ids, dtype=object), counts) if vm_ids else _obj(),
        np.concatenate(ts_l) if ts_l else np.empty(0, np.int64),
        np.concatenate(cpu_l).astype(np.float32) if cpu_l else np.empty(0, np.float32),
        np.concatenate(mem_l).astype(np.float32) if mem_l else np.empty(0, np.float32),
    )
    disks = _disks(src, by_vm("disk_used_gb")) if "disk_used_gb" in queries else _no_disks()
    allocation: dict[str, dict[str, float]] = defaultdict(dict)
    for name in ("vcpu", "mem_gb"):
        if name in queries:
            for vm, series in by_vm(name).items():
                s = _one(series)
                if len(s.values):
                    allocation[vm][name] = float(s.values[-1])
    return Window(
        start,
        end,
        samples,
        disks,
        unknown=list(unknown.values()),
        partial_rows=partial,
        invalid_points=invalid,
        allocation=dict(allocation),
    )


def _one(series: list[Series]) -> Series:
    """Several series for one VM (e.g. two jobs scrape it): the first per timestamp."""
    if not series:
        return Series({}, np.empty(0, np.int64), np.empty(0, np.float64))
    if len(series) == 1:
        return series[0]
    ts = np.concatenate([s.ts for s in series])
    vals = np.concatenate([s.values for s in series])
    uniq, idx = np.unique(ts, return_index=True)
    return Series(series[0].labels, uniq, vals[idx])


def _obj() -> np.ndarray:
    return np.empty(0, dtype=object)


def _no_disks() -> DiskColumns:
    return DiskColumns(_obj(), _obj(), np.empty(0, np.int64), np.empty(0, np.float64))


def _disks(src: PromSource, series_by_vm: dict[str, list[Series]]) -> DiskColumns:
    label = src.queries()["disk_used_gb"].disk_label or "mountpoint"
    vm_l, disk_l, ts_l, used_l = [], [], [], []
    for vm, series in sorted(series_by_vm.items()):
        for s in series:
            disk = s.labels.get(label)
            if not disk or not len(s.ts):
                continue
            vm_l.append(np.full(len(s.ts), vm, dtype=object))
            disk_l.append(np.full(len(s.ts), disk, dtype=object))
            ts_l.append(s.ts)
            used_l.append(np.maximum(s.values, 0.0))
    if not vm_l:
        return _no_disks()
    return DiskColumns(
        np.concatenate(vm_l), np.concatenate(disk_l), np.concatenate(ts_l), np.concatenate(used_l)
    )


def finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def record_window_health(src: PromSource, w: Window) -> None:
    if w.unknown:
        health.error(src.name, "unknown_vm", len(w.unknown))
    if w.partial_rows:
        health.error(src.name, "partial_row", w.partial_rows)
    if w.invalid_points:
        health.error(src.name, "invalid_value", w.invalid_points)


def resume_point(src: PromSource, start: int, wm: int | None) -> int:
    """First sample time to fetch: --from, or just after the stored watermark."""
    t = align_up(start, src.step)
    if wm is not None and wm + src.step > t:
        t = align_up(wm + src.step, src.step)
    return t


def run(
    settings: Any,
    src: PromSource,
    start: int,
    end: int | None,
    *,
    follow: bool,
    view: Any = None,
    client: PromClient | None = None,
) -> dict[str, Any]:
    """Backfill [start, end] (end None: up to now), then follow if asked. Returns counters."""
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.collectors.sender import CollectorSender
    from cloudtally.collectors.storeview import open_store_view

    ensure_topics(settings)
    client = client or PromClient(src.server, timeout=src.timeout, retries=src.retries)
    view = view or open_store_view(settings)
    sender = CollectorSender(settings, src.name, interval_s=src.step)
    stats: dict[str, Any] = {"windows": 0, "samples": 0, "disk_samples": 0, "unknown_series": 0}
    try:
        wm = view.watermark(src.name, range(sender.partitions))
        t = resume_point(src, start, wm)
        stats["resumed_from"] = t
        log.info("%s: watermark %s, starting at %s", src.name, wm, t)
        while True:
            stop = align_down(end if end is not None else int(time.time()) - src.delay, src.step)
            if t > stop:
                if not follow:
                    break
                if end is not None:  # backfill done: follow real time from here
                    end = None
                    continue
                time.sleep(max(1.0, t + src.delay - time.time()))
                continue
            w_start, w_end = windows(t, stop, src.step, src.max_points)[0]
            try:
                w = collect_window(src, client, w_start, w_end, view.known_vm_ids())
            except PromUnavailable as exc:
                health.error(src.name, "unavailable")
                log.warning("%s: %s; retrying", src.name, exc)
                if not follow:
                    raise
                time.sleep(src.step)
                continue
            except PromQueryError:
                health.error(src.name, "bad_query")
                raise
            record_window_health(src, w)
            sender.send_window(
                w.samples, w.disks, w_start, w_end, unknown=w.unknown, allocation=w.allocation
            )
            stats["windows"] += 1
            stats["samples"] += len(w.samples)
            stats["disk_samples"] += len(w.disks)
            stats["unknown_series"] += len(w.unknown)
            t = w_end + src.step
    finally:
        sender.close()
        view.close()
    stats["query_seconds"] = round(client.query_seconds, 3)
    stats["queries"] = client.queries
    return stats
