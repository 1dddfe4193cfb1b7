"""End to end: simulator → Tansu → real worker process → ClickHouse, with bad input mixed in.

Asserts exact counts: every good sample present exactly once, every planted bad
record dead-lettered once with its reason (in the store and on the topic), and
nothing lost or duplicated when the worker is killed mid-stream and restarted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kafka import KafkaConsumer, TopicPartition

from cloudtally.collectors.simulate import SimulationReport, run
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.settings import Settings
from cloudtally.store import Store

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DEAD_LETTER_SCHEMA = json.loads((ROOT / "schemas" / "dead_letter.schema.json").read_text())
START = "2026-03-02T00:00:00+08:00"  # a Monday
READ_COUNTS = """
import json, sys
from cloudtally.store import open_store
s = open_store("chdb://" + sys.argv[1], "cloudtally")
q = lambda sql: s.rows(sql)
print(json.dumps({
    "samples": q("SELECT count() FROM samples FINAL")[0][0],
    "raw_rows": q("SELECT count() FROM samples")[0][0],
    "keys": q("SELECT uniqExact(vm_id, ts) FROM samples")[0][0],
    "disks": q("SELECT count() FROM disk_samples FINAL")[0][0],
    "vms": q("SELECT uniqExact(vm_id) FROM vm_inventory")[0][0],
    "dead": [list(r) for r in q("SELECT section, row_index, reason FROM dead_letters FINAL")],
    "vm_hours": q("SELECT count() FROM usage_hourly FINAL WHERE alloc_fraction > 0")[0][0],
    "metered_hours": q(
        "SELECT count() FROM usage_hourly FINAL WHERE alloc_fraction > 0 AND samples > 0")[0][0],
    "bill_days": [str(r[0]) for r in q("SELECT DISTINCT day FROM bill_lines ORDER BY day")],
    "bill_vms": q("SELECT uniqExact(vm_id) FROM bill_lines")[0][0],
}))
"""


@contextmanager
def worker_process(settings: Settings, log: Path, *, with_api: bool) -> Iterator[Any]:
    args = [sys.executable, "-m", "cloudtally.cli", "worker"] + (["--with-api"] if with_api else [])
    env = {**os.environ, **settings.as_env(), "CLOUDTALLY_API_AUTH": "false"}
    proc = subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(
    check: Callable[[], bool], what: str, proc: Any, log: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(
                f"worker exited ({proc.returncode}) while waiting for {what}:\n"
                + log.read_text()[-3000:]
            )
        if check():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}:\n" + log.read_text()[-3000:])


def dead_letter_topic(settings: Settings) -> list[dict[str, Any]]:
    """Every record on the dead-letter topic, read to the fetch high watermark."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    parts = consumer.partitions_for_topic(settings.topic_dead_letter) or set()
    tps = [TopicPartition(settings.topic_dead_letter, p) for p in parts]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    records = [json.loads(m.value) for m in consumer]
    consumer.close()
    return records


def rollups_caught_up(store: Store) -> bool:
    mark = store.scalar("SELECT max(value) FROM worker_state WHERE name = 'rollup_watermark'")
    head = store.scalar("SELECT max(version) FROM rollup_queue")
    return bool(head) and (mark or 0) >= head


def hourly_measures(store: Store) -> list[tuple[Any, ...]]:
    """Every derived figure of usage_hourly except the row version."""
    return store.rows(
        "SELECT vm_id, toUInt32(hour), samples, expected_samples, coverage, cpu_avg, cpu_max, "
        "cpu_p95, mem_avg, mem_max, mem_p95, storage_used_gb, alloc_fraction, business_weight, "
        "vcpu, mem_gb FROM usage_hourly FINAL WHERE alloc_fraction > 0 ORDER BY vm_id, hour"
    )


def last_success(base: str, task: str) -> float:
    """cloudtally_analytics_last_success_timestamp_seconds{task=...} from the worker."""
    import re
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    m = re.search(
        rf'^cloudtally_analytics_last_success_timestamp_seconds{{task="{task}"}} (\S+)$',
        text,
        re.M,
    )
    return float(m.group(1)) if m else 0.0


def alive_vm_hours(report: SimulationReport, pools: int, bureaus: int) -> int:
    """VM-hours of the simulated range in which each VM existed (the fleet is deterministic)."""
    from cloudtally.collectors.fleet import Fleet

    fleet = Fleet.build(report.seed, report.vms, pools, bureaus, start=report.start, end=report.end)
    return sum(
        1
        for v in fleet.vms
        for h in range(report.start, report.end, 3600)
        if v.created < h + 3600 and (v.deleted is None or v.deleted > h)
    )


def planted(report: SimulationReport) -> Counter[tuple[str, int, str]]:
    rows = Counter((r.section, r.row_index, r.reason) for r in report.bad_rows)
    msgs = Counter(("message", -1, m.reason) for m in report.bad_messages)
    return rows + msgs


def dead_lettered(records: list[dict[str, Any]]) -> Counter[tuple[str, int, str]]:
    out: Counter[tuple[str, int, str]] = Counter()
    for r in records:
        if r["section"] == "inventory":
            continue
        # Reasons for whole messages carry parser detail after the planted prefix.
        out[(r["section"], r["row_index"], r["reason"])] += 1
    return out


def matches(expected: Counter, got: Counter) -> bool:
    """Each planted (section, row, reason) is found once; message reasons match by prefix."""
    got = Counter(got)
    for (section, row, reason), n in expected.items():
        for key in list(got):
            if key[0] == section and key[1] == row and key[2].startswith(reason) and got[key] > 0:
                take = min(n, got[key])
                got[key] -= take
                n -= take
                if n == 0:
                    break
        if n:
            return False
    return sum(got.values()) == 0


def test_embedded_pipeline_counts_exactly_with_bad_input(broker, settings, tmp_path) -> None:
    """chDB worker hosting the API, as `cloudtally up` runs it."""
    s = settings(
        store_url=f"chdb://{tmp_path / 'worker-chdb'}",
        database="cloudtally",
        api_port=free_port(),
        rollup_interval_s=1.0,
        rating_interval_s=2.0,
        analytics_interval_s=2.0,
    )
    log = tmp_path / "worker.log"
    report = run(
        s,
        seed=3,
        vms=120,
        pools=2,
        bureaus=8,
        start=START,
        end="2026-03-02T12:00:00+08:00",
        interval=300,
        bad_ratio=0.004,
    )
    assert report.bad_rows and report.bad_messages and report.bad_inventory_events == 1
    base = f"http://127.0.0.1:{s.api_port}"
    import urllib.request

    def progress() -> dict[str, int]:
        try:
            with urllib.request.urlopen(f"{base}/api/v1/ingest/progress", timeout=2) as r:
                rows = json.loads(r.read())
        except OSError:
            return {}
        return {
            "rejected": sum(x["rows_rejected"] for x in rows if x["topic"] == s.topic_samples),
            "messages": sum(x["messages"] for x in rows if x["topic"] == s.topic_samples),
        }

    with worker_process(s, log, with_api=True) as proc:
        wait_until(
            lambda: progress().get("messages", 0) >= report.messages,
            "all sample messages flushed",
            proc,
            log,
        )
        with urllib.request.urlopen(f"{base}/api/v1/fleet", timeout=5) as r:
            fleet = json.loads(r.read())
        assert fleet["samples"] == report.good_samples
        after = time.time()
        # The leader's derivation passes: rollup, then rating, then candidate alerts. Each
        # step's timer runs on its own, so a pass that ends after the previous step's may
        # have started before it: wait for two, the second started after the first ended.
        for task in ("rollup", "rating", "rating", "alerts"):
            wait_until(
                lambda t=task, a=after: last_success(base, t) > a,
                f"a {task} pass after ingest",
                proc,
                log,
            )
            after = last_success(base, task)
    # The worker has stopped: read its chDB folder from a fresh process (one folder per process).
    counts = json.loads(
        subprocess.check_output(
            [sys.executable, "-c", READ_COUNTS, str(tmp_path / "worker-chdb")], text=True
        )
    )
    assert counts["samples"] == counts["keys"] == report.good_samples
    assert counts["raw_rows"] == report.good_samples  # no redelivery in a clean run
    assert counts["disks"] == report.good_disk_samples
    assert counts["vms"] == report.vms
    # Derived data: every VM-hour of the 12 simulated hours has a row (a gap is a row
    # without samples), and the closed day is billed for every VM.
    assert counts["vm_hours"] >= counts["metered_hours"] > 0
    assert counts["vm_hours"] == alive_vm_hours(report, pools=2, bureaus=8)
    assert counts["bill_days"] == ["2026-03-02"]
    assert counts["bill_vms"] == report.vms
    store_dead = Counter(
        (sec, row, reason) for sec, row, reason in counts["dead"] if sec != "inventory"
    )
    assert matches(planted(report), store_dead), (planted(report), store_dead)
    assert sum(1 for d in counts["dead"] if d[0] == "inventory") == report.bad_inventory_events

    records = dead_letter_topic(s)
    for r in records:
        jsonschema.validate(r, DEAD_LETTER_SCHEMA)
    assert matches(planted(report), dead_lettered(records))
    assert report.dead_letters_expected == len(records)


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(
    broker, settings, server_store, tmp_path
) -> None:
    """kill -9 the worker while it ingests; more data arrives while it is down; a new
    worker resumes from the committed offsets and the store is exact."""
    # Small batches: the worker needs many flushes, so the kill lands mid-stream.
    s = settings(take_max_messages=4, rollup_interval_s=1.0)
    store: Store = server_store
    log = tmp_path / "worker.log"
    common = dict(
        seed=5, vms=400, pools=2, bureaus=10, interval=300, bad_ratio=0.002, rows_per_message=500
    )
    first_half = run(s, start=START, end="2026-03-02T12:00:00+08:00", **common)
    with worker_process(s, log, with_api=False) as first:
        wait_until(
            lambda: (store.scalar("SELECT count() FROM samples") or 0) > 10_000,
            "some samples ingested",
            first,
            log,
        )
        first.send_signal(signal.SIGKILL)  # no clean shutdown, no final commit
        first.wait()
    killed_at = store.scalar("SELECT count() FROM samples")
    # Produced while no worker runs: only the restarted worker can ingest it.
    second_half = run(
        s, start="2026-03-02T12:00:00+08:00", end="2026-03-03T00:00:00+08:00", **common
    )
    good = first_half.good_samples + second_half.good_samples
    dead = first_half.dead_letters_expected + second_half.dead_letters_expected
    assert killed_at < good
    with worker_process(s, log, with_api=False) as second:
        wait_until(
            lambda: (
                store.scalar("SELECT count() FROM samples FINAL") == good
                and store.scalar("SELECT count() FROM dead_letters FINAL") == dead
            ),
            "every sample and dead letter after the restart",
            second,
            log,
            timeout=180,
        )
        time.sleep(2)  # anything still in flight would land now
        wait_until(lambda: rollups_caught_up(store), "the rollup step caught up", second, log)
        after_restart = hourly_measures(store)
        # Replay: the simulator sends the first half again (a redelivery storm); the
        # store's keys absorb it and the rollups recompute to the same values.
        queue_head = store.scalar("SELECT max(version) FROM rollup_queue")
        replay = run(s, start=START, end="2026-03-02T12:00:00+08:00", **common)
        wait_until(
            lambda: (
                store.scalar("SELECT max(version) FROM rollup_queue") > queue_head
                and rollups_caught_up(store)
            ),
            "the rollup step after the replay",
            second,
            log,
        )
        after_replay = hourly_measures(store)
    assert after_restart and after_replay == after_restart
    # And both equal a clean recomputation from raw samples by this process.
    from cloudtally.analytics.rollups import recompute_hours

    h0 = int(dt.datetime.fromisoformat(START).timestamp())
    recompute_hours(store, None, h0, h0 + 24 * 3600)
    assert hourly_measures(store) == after_restart
    assert store.scalar("SELECT count() FROM samples FINAL") == good
    assert store.scalar("SELECT uniqExact(vm_id, ts) FROM samples") == good
    store.execute("OPTIMIZE TABLE samples FINAL")
    assert store.scalar("SELECT count() FROM samples") == good
    store_dead = Counter(
        tuple(r)
        for r in store.rows("SELECT section, row_index, reason FROM dead_letters FINAL")
        if r[0] != "inventory"
    )
    # The replayed messages are new messages (new offsets): their bad rows count again.
    assert matches(planted(first_half) + planted(second_half) + planted(replay), store_dead)


def test_two_workers_share_the_partitions_exactly(broker, settings, server_store, tmp_path) -> None:
    """Cluster mode: two workers in one consumer group split the partitions; every sample
    lands once, and the leader's rollup covers every VM-hour."""
    s = settings(rollup_interval_s=1.0, rating_interval_s=3600.0, analytics_interval_s=3600.0)
    store: Store = server_store
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    with (
        worker_process(s, logs[0], with_api=False) as a,
        worker_process(s, logs[1], with_api=False) as b,
    ):
        report = run(
            s,
            seed=9,
            vms=300,
            pools=2,
            bureaus=6,
            start=START,
            end="2026-03-02T06:00:00+08:00",
            interval=300,
            rows_per_message=200,
        )
        wait_until(
            lambda: store.scalar("SELECT count() FROM samples FINAL") == report.good_samples,
            "every sample from two workers",
            a,
            logs[0],
            timeout=180,
        )
        assert b.poll() is None, "the second worker died"
        wait_until(lambda: rollups_caught_up(store), "the leader's rollups", a, logs[0])
        consumers = store.rows(
            "SELECT partition, count() FROM ingest_log WHERE topic = %(t)s GROUP BY partition",
            {"t": s.topic_samples},
        )
    assert store.scalar("SELECT uniqExact(vm_id, ts) FROM samples") == report.good_samples
    assert len(consumers) == s.samples_partitions
    assert len(hourly_measures(store)) == alive_vm_hours(report, pools=2, bureaus=6)
