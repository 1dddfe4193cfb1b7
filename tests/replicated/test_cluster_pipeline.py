"""Cluster mode on the replicated store, end to end, with a replica killed mid-ingest.

Simulator → Tansu → two real workers consuming the same topics in two consumer
groups: one writes to the replicated store (both replicas in its URL) and has
its replica killed with ``kill -9`` while it ingests; the other writes to a
plain single server and sees no fault — the reference run of the same fleet.
An API process on the replicated store answers while the replica is down.
Then: every sample once on *each* replica, and rollups and current bill lines
on each replica identical to the reference.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from cloudtally.billing.rate import current_filter
from cloudtally.collectors.simulate import run
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.store import Store
from cloudtally.worker.derive import RATING, watermark
from tests.e2e.test_pipeline import hourly_measures, rollups_caught_up, wait_until, worker_process
from tests.replicated.conftest import on_replica

pytestmark = [pytest.mark.server, pytest.mark.replicated, pytest.mark.e2e]
START, MID, END = (
    "2026-03-02T00:00:00+08:00",
    "2026-03-02T12:00:00+08:00",
    "2026-03-03T00:00:00+08:00",
)


def rated_up(store: Store) -> bool:
    """Rollups caught up and the rating step has covered what they computed."""
    head = store.scalar("SELECT max(version) FROM rollup_queue") or 0
    return rollups_caught_up(store) and watermark(store, RATING) >= head


def bill_lines(store: Store) -> list[tuple[Any, ...]]:
    """The current bill lines, every figure but the run id and row version."""
    return store.rows(
        "SELECT vm_id, day, resource, tariff_version, quantity, unit_price, list_amount, "
        "after_discount, after_cut, adjustments, utilization_basis, hours, unmetered_hours "
        f"FROM bill_lines FINAL WHERE {current_filter()} ORDER BY vm_id, day, resource",
        {"d0": "2026-03-01", "d1": "2026-03-05"},
    )


def api_fleet(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/fleet", timeout=10) as r:
            return dict(json.loads(r.read()))
    except OSError:
        return None


def test_replica_killed_mid_ingest_loses_nothing_and_bills_as_a_fault_free_run(
    broker,
    settings,
    clickhouse_server,
    server_store,
    replicated_cluster,
    replicated_store,
    tmp_path,
    test_id,
) -> None:
    timing = dict(rollup_interval_s=1.0, rating_interval_s=2.0, analytics_interval_s=3600.0)
    common = dict(seed=11, vms=100, pools=2, bureaus=6, interval=300, rows_per_message=100)
    s_rep = settings(
        mode="cluster",
        store_url=replicated_cluster.url(replicated_store.database),
        database=replicated_store.database,
        consumer_group=f"replicated-{test_id}",
        take_max_messages=4,  # many small flushes: the kill lands mid-stream
        api_port=free_port(),
        **timing,
    )
    s_ref = settings(
        mode="cluster",
        store_url=f"{clickhouse_server.url}/{server_store.database}",
        database=server_store.database,
        consumer_group=f"reference-{test_id}",
        **timing,
    )
    first = run(s_rep, start=START, end=MID, **common)
    api_env = {**os.environ, **s_rep.as_env(), "CLOUDTALLY_API_AUTH": "false"}
    api_log = (tmp_path / "api.log").open("ab")
    api = subprocess.Popen(
        [sys.executable, "-m", "cloudtally.cli", "api"],
        env=api_env,
        stdout=api_log,
        stderr=subprocess.STDOUT,
    )
    rep_log, ref_log = tmp_path / "worker-replicated.log", tmp_path / "worker-reference.log"
    try:
        with (
            worker_process(s_rep, rep_log, with_api=False) as rep,
            worker_process(s_ref, ref_log, with_api=False) as ref,
        ):
            wait_until(
                lambda: (replicated_store.scalar("SELECT count() FROM samples") or 0) > 2_000,
                "some samples in the replicated store",
                rep,
                rep_log,
            )
            replicated_cluster.kill(0)  # the replica every process uses
            down_at = time.monotonic()
            # Keep ingesting: the second half is produced while replica 1 is dead.
            second = run(s_rep, start=MID, end=END, **common)
            good = first.good_samples + second.good_samples
            # The API answers from the surviving replica.
            wait_until(
                lambda: api_fleet(s_rep.api_port) is not None, "the API", api, tmp_path / "api.log"
            )
            during = api_fleet(s_rep.api_port)
            assert during is not None and 0 < during["samples"] <= good
            time.sleep(max(0.0, 5 - (time.monotonic() - down_at)))
            replicated_cluster.restart(0)
            for proc, log, store, what in (
                (rep, rep_log, replicated_store, "replicated"),
                (ref, ref_log, server_store, "reference"),
            ):
                wait_until(
                    lambda st=store: st.scalar("SELECT count() FROM samples FINAL") == good,
                    f"every sample in the {what} store",
                    proc,
                    log,
                    timeout=150,
                )
                wait_until(lambda st=store: rated_up(st), f"{what} rollups and rating", proc, log)
            after = api_fleet(s_rep.api_port)
            assert after is not None and after["samples"] == good
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(30)
        api_log.close()
    assert rep.returncode is not None and "moving to" in rep_log.read_text()  # it failed over
    replicated_cluster.wait_in_sync(replicated_store.database, timeout_s=120)

    reference_hours, reference_bills = hourly_measures(server_store), bill_lines(server_store)
    assert reference_hours and reference_bills
    db = replicated_store.database
    for i in range(2):
        with on_replica(replicated_cluster, i, db) as one:
            assert one.scalar("SELECT count() FROM samples FINAL") == good, f"replica {i + 1}"
            assert one.scalar("SELECT uniqExact(vm_id, ts) FROM samples") == good
            assert one.scalar("SELECT count() FROM disk_samples FINAL") == (
                first.good_disk_samples + second.good_disk_samples
            )
            assert hourly_measures(one) == reference_hours, f"rollups on replica {i + 1}"
            assert bill_lines(one) == reference_bills, f"bill lines on replica {i + 1}"
    with on_replica(replicated_cluster, 0, db) as r1:
        r1.execute("OPTIMIZE TABLE samples FINAL")  # replicated: merges on both
    replicated_cluster.wait_in_sync(db)
    for i in range(2):
        with on_replica(replicated_cluster, i, db) as one:
            assert one.scalar("SELECT count() FROM samples") == good  # raw rows, once each
