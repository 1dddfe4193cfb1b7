"""Grafana dashboards: structure, provisioning, and every query run for real.

ClickHouse panel queries (and the variable queries feeding them) are rendered
the way Grafana and the ClickHouse plugin (v4) would — variables first, then the
plugin's macros — and run on chDB and on the 18.16 server against a simulated
fleet (tests/ops/conftest.py); each must return at least one row with a real
value. PromQL expressions are checked name by name against cloudtally.metrics
and the recording rules.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops._promql import exposed_metric_names, names_in, recorded_names
from tests.ops.conftest import RANGE_FROM, RANGE_TO, FilledStore

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
MIGRATIONS = ROOT / "services" / "cloudtally" / "store" / "migrations"
BUILTIN_VARS = {"__interval", "__interval_ms", "__range", "__rate_interval", "__from", "__to"}


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def datasources() -> dict[str, str]:
    out: dict[str, str] = {}
    for p in (GRAFANA / "provisioning" / "datasources").glob("*.yml"):
        for ds in yaml.safe_load(p.read_text())["datasources"]:
            out[ds["uid"]] = ds["type"]
    return out


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def targets(dash: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) for targets on the ClickHouse ('ch') or Prometheus ('prom')."""
    want = "grafana-clickhouse-datasource" if kind == "ch" else "prometheus"
    return [
        (p["title"], t)
        for p in panels(dash)
        for t in p.get("targets", [])
        if t["datasource"]["type"] == want
    ]


def migration_tables() -> set[str]:
    text = "\n".join(p.read_text() for p in MIGRATIONS.glob("*.sql"))
    return set(re.findall(r"CREATE TABLE IF NOT EXISTS\s+(\w+)", text))


def tables_in(sql: str) -> set[str]:
    return set(re.findall(r"\b(?:FROM|(?<!ARRAY )JOIN)\s+([A-Za-z_]\w*)", sql)) - {"system"}


ALL = dashboards()
CH_CASES = [
    pytest.param(name, title, t, id=f"{name[:-5]}:{title}:{t['refId']}")
    for name, d in ALL.items()
    for title, t in targets(d, "ch")
]


# ---------------------------------------------------------------- structure


def test_json_is_generated_by_build_py() -> None:
    r = subprocess.run(
        [sys.executable, str(GRAFANA / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def test_the_seven_dashboards_exist_with_unique_uids_and_titles() -> None:
    uids = [d["uid"] for d in ALL.values()]
    titles = [d["title"] for d in ALL.values()]
    assert len(ALL) == 7
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    assert all(len(u) <= 40 for u in uids)  # Grafana's uid limit


@pytest.mark.parametrize("name", sorted(ALL))
def test_panel_ids_are_unique_and_panels_have_queries(name: str) -> None:
    ps = panels(ALL[name])
    ids = [p["id"] for p in ps]
    assert len(set(ids)) == len(ids)
    for p in ps:
        if p["type"] != "row":
            assert p.get("targets"), f"panel {p['title']!r} has no query"
            assert {"x", "y", "w", "h"} <= p["gridPos"].keys() and p["gridPos"]["w"] <= 24


@pytest.mark.parametrize("name", sorted(ALL))
def test_datasource_references_resolve_to_provisioned_datasources(name: str) -> None:
    known = datasources()
    assert {"cloudtally-clickhouse", "cloudtally-prometheus"} <= known.keys()
    refs = [p["datasource"] for p in panels(ALL[name]) if "datasource" in p]
    refs += [t["datasource"] for p in panels(ALL[name]) for t in p.get("targets", [])]
    refs += [v["datasource"] for v in ALL[name]["templating"]["list"] if "datasource" in v]
    for ref in refs:
        if ref["uid"] == "-- Mixed --":
            continue
        assert ref["uid"] in known, f"unknown datasource uid {ref['uid']}"
        assert known[ref["uid"]] == ref["type"]


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_variable_used_is_defined(name: str) -> None:
    dash = ALL[name]
    defined = {v["name"] for v in dash["templating"]["list"]}
    texts = [json.dumps(p.get("targets", [])) + p.get("title", "") for p in panels(dash)]
    texts += [json.dumps(v.get("query", "")) for v in dash["templating"]["list"]]
    used = set()
    for text in texts:
        for a, b in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", text):
            used.add(a or b)
    used = {u for u in used if not u.startswith("__")} - BUILTIN_VARS
    assert used <= defined, f"undefined variables {used - defined}"
    for v in ("provider", "pool", "bureau", "period"):
        if f"${{{v}" in "".join(texts) or f"${v}" in "".join(texts):
            assert v in defined


def test_dashboards_cover_the_required_views() -> None:
    text = json.dumps(ALL)
    for needle in (
        "usage_daily",
        "bill_lines",
        "verification_findings",
        "ingest_log",
        "dead_letters",
        "cloudtally_idle_candidates",
        "cpu_num_day",
        "cpu_num_night",
        "cloudtally:consumer_lag:sum_by_topic",
        "alert_state",
        "alert_events",
        "worker_state",
        "cloudtally_analytics_last_success_timestamp_seconds",
        "cloudtally_analytics_errors_total",
    ):
        assert needle in text, needle
    util = ALL["utilization.json"]
    steps = [
        s["value"]
        for p in panels(util)
        for s in p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    ]
    assert {60, 65, 70} <= set(steps)
    names = {v["name"] for d in ALL.values() for v in d["templating"]["list"]}
    assert {"provider", "pool", "bureau", "period"} <= names


@pytest.mark.parametrize("name", sorted(ALL))
def test_clickhouse_fed_variables_have_no_custom_all_value(name: str) -> None:
    """Grafana substitutes a custom "All" value into every query of the dashboard: with
    '.*' the ClickHouse filters would read ``provider IN ('.*')`` and match nothing."""
    for v in ALL[name]["templating"]["list"]:
        if v["datasource"]["type"] == "grafana-clickhouse-datasource":
            assert "allValue" not in v, f"{name}: variable {v['name']} has a custom All value"


def test_promql_uses_only_exposed_metrics_and_recording_rules() -> None:
    exposed, recorded = exposed_metric_names(), recorded_names()
    unknown: dict[str, set[str]] = {}
    for name, dash in ALL.items():
        exprs = [t["expr"] for _, t in targets(dash, "prom")]
        exprs += [
            v["definition"]
            for v in dash["templating"]["list"]
            if v.get("datasource", {}).get("type") == "prometheus"
        ]
        for expr in exprs:
            metrics, recs = names_in(expr)
            missing = {m for m in metrics if m not in exposed} | (recs - recorded)
            if missing:
                unknown.setdefault(name, set()).update(missing)
    assert unknown == {}, (
        f"dashboards use series cloudtally.metrics does not expose: {unknown} "
        "(docs/operations.md, 'Metrics', lists what to add)"
    )


def test_sql_tables_exist_in_migrations() -> None:
    known = migration_tables()
    missing = {}
    for name, dash in ALL.items():
        sqls = [t["rawSql"] for _, t in targets(dash, "ch")]
        sqls += [
            v["query"]
            for v in dash["templating"]["list"]
            if v.get("datasource", {}).get("type") == "grafana-clickhouse-datasource"
        ]
        for s in sqls:
            if tables_in(s) - known:
                missing.setdefault(name, set()).update(tables_in(s) - known)
    assert missing == {}


# ---------------------------------------------------------------- rendering


def macros(sql: str, t0: int, t1: int) -> str:
    """The ClickHouse plugin's macro expansion (pkg/macros in grafana/clickhouse-datasource)."""
    d0 = dt.datetime.fromtimestamp(t0, dt.UTC).date().isoformat()
    d1 = dt.datetime.fromtimestamp(t1, dt.UTC).date().isoformat()
    sql = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        lambda m: f"{m[1]} >= toDateTime({t0}) AND {m[1]} <= toDateTime({t1})",
        sql,
    )
    sql = re.sub(
        r"\$__dateFilter\(([^)]+)\)",
        lambda m: f"{m[1]} >= toDate('{d0}') AND {m[1]} <= toDate('{d1}')",
        sql,
    )
    sql = sql.replace("$__fromTime", f"toDateTime({t0})").replace("$__toTime", f"toDateTime({t1})")
    return sql.replace("$__interval_s", "60")


def variables(sql: str, values: dict[str, list[str]]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, fmt = m[1] or m[3], m[2] or ""
        vals = values[name]
        if fmt == "singlequote":
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in vals)
        assert len(vals) == 1, f"${name} is multi-valued: use ${{{name}:singlequote}}"
        return vals[0]

    return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)", sub, sql)


def render(sql: str, values: dict[str, list[str]], t0: int, t1: int) -> str:
    out = macros(variables(sql, values), t0, t1)
    assert "$" not in out, f"unrendered macro or variable in {out}"
    return out


def time_range(name: str, fs: FilledStore) -> tuple[int, int]:
    # Pipeline rows (ingest_log, dead_letters) are stamped with wall-clock time.
    return (fs.wall_from, fs.wall_to) if name == "pipeline.json" else (RANGE_FROM, RANGE_TO)


def variable_values(name: str, fs: FilledStore) -> dict[str, list[str]]:
    """Run the dashboard's ClickHouse variable queries in order, selecting All (or the first
    value of a single-value variable), as Grafana does on load."""
    t0, t1 = time_range(name, fs)
    values: dict[str, list[str]] = {}
    for v in ALL[name]["templating"]["list"]:
        if v["datasource"]["type"] != "grafana-clickhouse-datasource":
            continue
        rows = fs.store.rows(render(v["query"], values, t0, t1))
        got = [str(r[0]) for r in rows]
        assert got, f"variable {v['name']} of {name} has no values"
        values[v["name"]] = got if v.get("multi") else got[:1]
    return values


def meaningful(rows: list[tuple[Any, ...]]) -> bool:
    """At least one value that is neither NULL, zero nor empty."""
    return any(v not in (None, 0, "", []) and v == v for row in rows for v in row)


def ci_or_skip(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.mark.parametrize(("name", "title", "target"), CH_CASES)
def test_clickhouse_panel_query_returns_rows(
    fleet_store: FilledStore, name: str, title: str, target: dict[str, Any]
) -> None:
    missing = tables_in(target["rawSql"]) - migration_tables()
    if missing:
        ci_or_skip(f"{name} / {title}: tables {sorted(missing)} are not in the migrations")
    t0, t1 = time_range(name, fs := fleet_store)
    sql = render(target["rawSql"], variable_values(name, fs), t0, t1)
    names, rows = fs.store.query(sql)
    assert rows, f"no rows on {fs.engine}: {sql}"
    assert meaningful(rows), f"only NULL/zero values on {fs.engine}: {rows[:3]} for {sql}"
    if target["format"] == 0:  # time series: a 'time' column of DateTime
        assert names[0] == "time"
        assert isinstance(rows[0][0], dt.datetime)


def test_filters_narrow_the_results(fleet_store: FilledStore) -> None:
    """Choosing one provider changes the figures (the variables really filter)."""
    fs = fleet_store
    sql = next(
        t["rawSql"] for title, t in targets(ALL["fleet-overview.json"], "ch") if title == "VMs"
    )
    values = variable_values("fleet-overview.json", fs)
    assert len(values["provider"]) >= 2
    everything = fs.store.scalar(render(sql, values, RANGE_FROM, RANGE_TO))
    one = fs.store.scalar(
        render(sql, {**values, "provider": values["provider"][:1]}, RANGE_FROM, RANGE_TO)
    )
    assert 0 < one < everything
    inventory = fs.store.scalar(
        "SELECT count() FROM (SELECT vm_id, argMax(event, event_ts) AS e FROM vm_inventory "
        f"FINAL WHERE event_ts <= toDateTime({RANGE_TO}) GROUP BY vm_id) WHERE e != 'deleted'"
    )
    assert everything == inventory
