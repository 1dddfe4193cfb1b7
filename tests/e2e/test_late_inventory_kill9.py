"""Real processes: orphan samples, a late inventory, kill -9 before the adoption.

Tansu → worker → the 18.16 server. A VM's samples arrive before any inventory
knows it (rolled up without an owner); its inventory is stored by a worker that
dies (SIGKILL) before any rollup tick could adopt it; a new worker adopts it and
its hours are billed — exactly as a clean recomputation bills them.
"""

from __future__ import annotations

import datetime as dt
import signal

import pytest
from tests.e2e.test_pipeline import START, rollups_caught_up, wait_until, worker_process
from tests.worker.test_adoption import CURRENT_LINES

from cloudtally.collectors.producer import InventoryProducer, SampleProducer
from cloudtally.collectors.simulate import run
from cloudtally.core.inventory import InventoryEvent
from cloudtally.core.samples import encode_batch, partition_for
from cloudtally.policy import configured_policy
from cloudtally.store import Store

pytestmark = pytest.mark.e2e
LATE = "vm-late-e2e"
T0 = int(dt.datetime.fromisoformat(START).timestamp())


def count(store: Store, sql: str) -> int:
    return int(store.scalar(sql, {"v": LATE}) or 0)


def test_inventory_stored_then_kill_9_before_adoption_bills_the_orphan_hours_once(
    broker, settings, server_store, tmp_path
) -> None:
    store: Store = server_store
    log = tmp_path / "worker.log"
    quiet = dict(rating_interval_s=3600.0, analytics_interval_s=3600.0)
    deriving = settings(rollup_interval_s=1.0, **quiet)
    # A small fleet with its inventory, and three hours of a VM nobody has announced.
    run(deriving, seed=4, vms=6, pools=1, bureaus=2, start=START,
        end="2026-03-02T06:00:00+08:00", interval=300)  # fmt: skip
    ts = [T0 + 600 * i for i in range(18)]
    with SampleProducer(deriving.kafka_bootstrap, deriving.topic_samples) as producer:
        payload = encode_batch("late-agent", [LATE] * 18, ts, [30.0] * 18, [40.0] * 18)
        producer.send_raw(partition_for(LATE, producer.partitions), payload)
    with worker_process(deriving, log, with_api=False) as first:
        stored = "SELECT count() FROM samples WHERE vm_id = %(v)s"
        wait_until(lambda: count(store, stored) == 18 and rollups_caught_up(store),
                   "the orphan samples rolled up", first, log)  # fmt: skip
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert count(store, "SELECT count() FROM usage_hourly WHERE vm_id = %(v)s") == 0

    # A worker with no rollup tick in its life stores the inventory, then is killed.
    storing = settings(rollup_interval_s=3600.0, **quiet)
    with InventoryProducer(storing.kafka_bootstrap, storing.topic_inventory) as inventory:
        inventory.send(InventoryEvent.model_validate({
            "schema": "cloudtally.inventory/1", "event": "created", "vm_id": LATE,
            "ts": T0 - 3600, "bureau": "b-late", "system": "s-late", "pool": "pool-1",
            "provider": "provider-a", "vcpu": 4, "mem_gb": 8}))  # fmt: skip
    with worker_process(storing, log, with_api=False) as second:
        wait_until(lambda: count(store, "SELECT count() FROM vm_inventory WHERE vm_id = %(v)s"),
                   "the late inventory stored", second, log)  # fmt: skip
        second.send_signal(signal.SIGKILL)
        second.wait()
    assert count(store, "SELECT count() FROM vm_adoptions WHERE vm_id = %(v)s") == 0
    assert count(store, "SELECT count() FROM usage_hourly WHERE vm_id = %(v)s") == 0

    # The next worker adopts on its first rollup tick; its rating bills the hours.
    billing = settings(rollup_interval_s=1.0, rating_interval_s=1.0, analytics_interval_s=3600.0)
    with worker_process(billing, log, with_api=False) as third:
        wait_until(
            lambda: count(store, "SELECT count() FROM usage_hourly FINAL WHERE vm_id = %(v)s "
                                 "AND samples > 0") == 3
            and count(store, "SELECT count() FROM bill_lines WHERE vm_id = %(v)s") > 0,
            "the adopted hours rolled up and billed", third, log)  # fmt: skip
    lines = store.rows(CURRENT_LINES)
    assert LATE in {r[0] for r in lines} and all(r[-1] == 1 for r in lines)
    # Exactly what a clean re-rating of the day gives: nothing missing, nothing twice.
    from cloudtally.billing.rate import rate_period

    t0 = dt.datetime.fromisoformat(START)
    rate_period(store, configured_policy(None), t0, t0 + dt.timedelta(days=1), None, "rerate",
                "check")  # fmt: skip
    assert store.rows(CURRENT_LINES) == lines
