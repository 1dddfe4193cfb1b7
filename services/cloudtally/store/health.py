"""Replica health for Prometheus, read from each replica at scrape time.

A replicated store names several servers; what an operator needs to see is
per replica: does it answer, are its tables read-only (ZooKeeper lost or its
old session not yet expired), how long is its replication queue and how far
behind is it. Reading ``system.replicas`` on scrape keeps it true without a
loop of its own; each probe has a 1 s budget so a dead replica cannot stall
the scrape.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from cloudtally.store.replication import ServerTarget

log = logging.getLogger(__name__)

# The replicated stores this process opened, by their replica set (latest database wins).
_targets: dict[tuple[tuple[str, int], ...], ServerTarget] = {}
_lock = threading.RLock()  # REGISTRY.register() calls collect()

PROBE = """
SELECT count(), sum(is_readonly + is_session_expired), sum(queue_size), max(absolute_delay),
       sum(inserts_in_queue), sum(merges_in_queue), min(active_replicas),
       sum(greatest(log_max_index - log_pointer, 0)), max(total_replicas)
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
    tables, readonly, queue, delay, inserts, merges, active, log_behind, total = row
    return {
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


class ReplicaHealth(Collector):
    """One collector for the process: every replica of every store it watches."""

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "cloudtally_store_replica_up", "1 when the store replica answers", labels=["replica"]
        )
        readonly = GaugeMetricFamily(
            "cloudtally_store_replica_readonly_tables",
            "Replicated tables in read-only mode on this replica (ZooKeeper lost)",
            labels=["replica"],
        )
        queue = GaugeMetricFamily(
            "cloudtally_store_replication_queue",
            "Replication queue entries on this replica; kind = all, inserts, merges",
            labels=["replica", "kind"],
        )
        delay = GaugeMetricFamily(
            "cloudtally_store_replica_delay_seconds",
            "How far this replica is behind (max absolute_delay of its tables)",
            labels=["replica"],
        )
        active = GaugeMetricFamily(
            "cloudtally_store_active_replicas",
            "Replicas this replica sees active in ZooKeeper (min over its tables)",
            labels=["replica"],
        )
        with _lock:
            targets = list(_targets.values())
        replicas = [(t, i) for t in targets for i in range(len(t.hosts))]
        for target, i in replicas:
            host, port = target.hosts[i]
            name = f"{host}:{port}"
            figures = probe(target, i)
            up.add_metric([name], 0.0 if figures is None else 1.0)
            if figures is None:
                continue
            readonly.add_metric([name], figures["readonly"])
            queue.add_metric([name, "all"], figures["queue"])
            queue.add_metric([name, "inserts"], figures["inserts"])
            queue.add_metric([name, "merges"], figures["merges"])
            delay.add_metric([name], figures["delay"])
            active.add_metric([name], figures["active"])
        yield from (up, readonly, queue, delay, active)


def watch(target: ServerTarget) -> None:
    """Export the health of ``target``'s replicas from this process."""
    with _lock:
        if not _targets:
            REGISTRY.register(ReplicaHealth())
        _targets[target.hosts] = target
