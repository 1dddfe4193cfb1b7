"""Replica health: what the store's failover decides on, and gauges for Prometheus.

A replicated store names several servers; what an operator needs to see is
per replica: does it answer, are its tables read-only (ZooKeeper lost or its
old session not yet expired), how long is its replication queue and how far
behind is it. A daemon thread reads ``system.replicas`` on each replica every
5 s; each probe has a 3 s budget so a dead replica cannot stall it.
"""

from __future__ import annotations

import logging
import threading
import time

from cloudtally import metrics
from cloudtally.store.replication import ServerTarget

log = logging.getLogger(__name__)
THREAD = "store-replica-health"


class _QuietProbes(logging.Filter):
    """The driver logs a traceback for every refused connection; from the health thread
    that is expected (the gauge says it), not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


logging.getLogger("clickhouse_driver.connection").addFilter(_QuietProbes())

# The replicated stores this process opened, by their replica set (latest database wins).
_targets: dict[tuple[tuple[str, int], ...], ServerTarget] = {}
_lock = threading.Lock()
_thread: threading.Thread | None = None
INTERVAL_S = 5.0

PROBE = """
SELECT count(), sum(is_readonly + is_session_expired), sum(queue_size), max(absolute_delay),
       sum(inserts_in_queue), sum(merges_in_queue), min(active_replicas),
       sum(greatest(log_max_index - log_pointer, 0)), max(total_replicas),
       sum(part_mutations_in_queue)
FROM system.replicas WHERE database = %(db)s
"""


def lag(figures: dict[str, float] | None) -> float:
    """How unfit a replica is to serve reads that must see every write: 0 = fit.

    Read-only tables first, then log entries not yet pulled and parts not yet
    fetched (a replica back from a crash serves stale reads until both are 0).
    """
    if figures is None:
        return float("inf")
    return figures["readonly"] * 1e9 + figures["log_behind"] + figures["inserts"]


def settled(figures: dict[str, float] | None) -> bool:
    """Every replica is up and this one holds every part acknowledged anywhere.

    Only then can a derived step trust that what it reads here is complete: a
    part acknowledged by a replica that died before the others fetched it
    shows up only when that replica returns.
    """
    return (
        figures is not None
        and figures["readonly"] == 0
        and figures["active"] == figures["total"]
        and figures["inserts"] == 0
        and figures["log_behind"] == 0
    )


def probe(target: ServerTarget, i: int, timeout_s: float = 1.0) -> dict[str, float] | None:
    """One replica's figures, or None when it does not answer."""
    from clickhouse_driver import Client

    host, port = target.hosts[i]
    client = Client(
        host,
        port=port,
        user=target.user,
        password=target.password,
        connect_timeout=timeout_s,
        send_receive_timeout=timeout_s,
        sync_request_timeout=timeout_s,
    )
    try:
        row = client.execute(PROBE % {"db": f"'{target.database}'"})[0]
    except Exception as exc:
        log.debug("replica %s:%s does not answer: %s", host, port, exc)
        return None
    finally:
        client.disconnect()
    tables, readonly, queue, delay, inserts, merges, active, log_behind, total, mutations = row
    return {
        "mutations": float(mutations or 0),
        "total": float(total or 0),
        "log_behind": float(log_behind or 0),
        "tables": float(tables or 0),
        "readonly": float(readonly or 0),
        "queue": float(queue or 0),
        "delay": float(delay or 0),
        "inserts": float(inserts or 0),
        "merges": float(merges or 0),
        "active": float(active or 0),
    }


def refresh() -> None:
    """Probe every watched replica once and set the replica gauges."""
    with _lock:
        targets = list(_targets.values())
    for target in targets:
        for i, (host, port) in enumerate(target.hosts):
            name = f"{host}:{port}"
            figures = probe(target, i, timeout_s=3.0)
            metrics.STORE_REPLICA_UP.labels(name).set(0.0 if figures is None else 1.0)
            if figures is None:
                continue
            metrics.STORE_REPLICA_READONLY.labels(name).set(figures["readonly"])
            metrics.STORE_REPLICATION_QUEUE.labels(name, "all").set(figures["queue"])
            metrics.STORE_REPLICATION_QUEUE.labels(name, "inserts").set(figures["inserts"])
            metrics.STORE_REPLICATION_QUEUE.labels(name, "merges").set(figures["merges"])
            metrics.STORE_REPLICA_DELAY.labels(name).set(figures["delay"])
            metrics.STORE_ACTIVE_REPLICAS.labels(name).set(figures["active"])


def _loop() -> None:
    while True:
        try:
            refresh()
        except Exception:  # a probe must never take the process down
            log.exception("replica health probe failed")
        time.sleep(INTERVAL_S)


def watch(target: ServerTarget) -> None:
    """Export the health of ``target``'s replicas from this process (a daemon thread)."""
    global _thread
    with _lock:
        _targets[target.hosts] = target
        if _thread is None:
            _thread = threading.Thread(target=_loop, name=THREAD, daemon=True)
            _thread.start()
