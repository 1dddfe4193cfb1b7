"""The operator's guide's hand procedure for re-deriving data, run as written on both engines.

docs/operations.md tells operators to put hours back in ``rollup_queue`` with a
SQL statement so the leader's rollup step recomputes them and the rating step
re-rates the closed days. This test takes that statement verbatim from the
guide, runs it against a small fleet metered in March 2024, runs the worker's
two steps, and checks what the guide promises: exactly the metered hours are
recomputed, the closed days are re-rated to identical bill lines under a new
run, and the Pipeline health watermark panel shows the queue draining.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from cloudtally.collectors.fleet import Fleet
from cloudtally.core.samples import encode_batch
from cloudtally.policy import configured_policy
from cloudtally.store import Store
from cloudtally.worker.derive import Derivation
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.ops.conftest import SHANGHAI, utilization_policy

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operations.md"
START = int(dt.datetime(2024, 3, 4, tzinfo=SHANGHAI).timestamp())  # Monday 00:00 local
END = START + 2 * 86_400
NOW = END + 12 * 3600  # noon on 6 March: 4 and 5 March have closed


def guide_sql(section: str) -> list[str]:
    """The ```sql blocks of one '### ' section of the guide, without the final ';'."""
    text = GUIDE.read_text(encoding="utf-8")
    body = text.split(f"### {section}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return [b.strip().rstrip(";") for b in re.findall(r"```sql\n(.*?)```", body, flags=re.S)]


def watermarks(store: Store) -> dict[str, Any]:
    """The Pipeline health panel 'Derivation watermarks', as Grafana runs it (no macros)."""
    dash = json.loads((ROOT / "grafana" / "dashboards" / "pipeline.json").read_text())
    (sql,) = [
        t["rawSql"]
        for p in dash["panels"]
        if p["title"] == "Derivation watermarks (worker_state)"
        for t in p["targets"]
    ]
    return {r["watermark"]: r for r in store.dicts(sql)}


def ingest(store: Store) -> None:
    fleet = Fleet.build(5, 8, 2, 3, providers=2, start=START, end=END)
    sink = IngestSink(store)
    sink.write_inventory(
        [RawMessage("inventory", 0, i, e.to_json()) for i, e in enumerate(fleet.inventory_events())]
    )
    for offset, chunk in enumerate(fleet.samples(START, END, 900, disk_interval=3600)):
        s, d = chunk.samples, chunk.disks
        raw = encode_batch(
            "simulate",
            list(s.vm_id),
            s.ts,
            s.cpu_pct,
            s.mem_pct,
            disks={"vm_id": list(d.vm_id), "disk_id": list(d.disk_id), "ts": d.ts,
                   "used_gb": d.used_gb},
        )  # fmt: skip
        sink.write_samples([RawMessage("samples", 0, offset, raw)])


def current_lines(store: Store) -> list[tuple[Any, ...]]:
    return store.rows(
        "SELECT vm_id, day, resource, quantity, after_cut FROM bill_lines WHERE (vm_id, day, "
        "run_id) IN (SELECT vm_id, day, argMax(run_id, version) FROM bill_current "
        "GROUP BY vm_id, day) ORDER BY vm_id, day, resource"
    )


def test_requeued_hours_are_rolled_up_again_and_closed_days_rerated(store: Store) -> None:
    (requeue,) = guide_sql("Re-running rollups and rating by hand")
    ingest(store)
    rollup = Derivation(store, utilization_policy())
    rating = Derivation(store, configured_policy(None))
    assert rollup.rollup().hours == 48
    first = rating.rate(now=NOW)
    # the example tariff's low-utilization cut is per month: the month so far is rated
    assert first.days == [dt.date(2024, 3, d) for d in range(1, 6)] and first.rows > 0
    lines = current_lines(store)
    marks = watermarks(store)
    assert marks["rollup_watermark"]["hours_waiting"] == 0
    assert marks["rating_closed_through"]["position"] == "2024-03-05"

    store.execute(requeue)
    marks = watermarks(store)
    assert marks["rollup_watermark"]["hours_waiting"] == 48  # the metered hours, no others
    assert marks["rating_watermark"]["hours_waiting"] == 48

    again = rollup.rollup()
    assert again.hours == 48 and again.days == [dt.date(2024, 3, 4), dt.date(2024, 3, 5)]
    assert watermarks(store)["rollup_watermark"]["hours_waiting"] == 0
    rerated = rating.rate(now=NOW)
    assert rerated.days == first.days and rerated.rows == first.rows
    assert watermarks(store)["rating_watermark"]["hours_waiting"] == 0

    assert current_lines(store) == lines  # a recomputation: identical bill lines ...
    runs = store.rows("SELECT kind, line_count FROM rating_runs ORDER BY started_at, run_id")
    assert runs == [("stream", first.rows), ("stream", first.rows)]  # ... under a new run
