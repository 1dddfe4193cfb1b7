# ruff: noqa: E501  (SQL and PromQL read better unwrapped)
"""Generate grafana/dashboards/*.json: cloudtally's dashboards as code.

Why a generator: seven dashboards share variables, datasources, thresholds and
panel conventions; writing the JSON by hand drifts. The committed JSON is what
Grafana provisions (grafana/provisioning/dashboards/cloudtally.yml), and
tests/ops/test_dashboards.py checks that it matches this script, then runs every
ClickHouse query against both engines and every PromQL name against
cloudtally.metrics.

    python grafana/build.py          # rewrite grafana/dashboards/*.json
    python grafana/build.py --check  # exit 1 if the JSON is out of date

SQL rules: it must run on chDB 26.x and the ClickHouse 18.16 server, so no
window functions, no WITH-subqueries, no toStartOfInterval (hence no
$__timeInterval macro: bucket with toStartOfHour/toStartOfDay or intDiv on
$__interval_s); derived tables are read with FINAL. Filters use the ClickHouse
plugin's macros ($__timeFilter, $__dateFilter, $__fromTime, $__toTime) and
multi-value variables as ``IN (${var:singlequote})``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"

CH = {"type": "grafana-clickhouse-datasource", "uid": "cloudtally-clickhouse"}
PROM = {"type": "prometheus", "uid": "cloudtally-prometheus"}
MIXED = {"type": "datasource", "uid": "-- Mixed --"}

# Evaluation thresholds drawn on utilization panels (domain.md): the 2-point pool
# score changes at 60 % and 65 %, the 10-point score tops out at 70 %.
UTIL_THRESHOLDS = {
    "mode": "absolute",
    "steps": [
        {"color": "red", "value": None},
        {"color": "orange", "value": 60},
        {"color": "yellow", "value": 65},
        {"color": "green", "value": 70},
    ],
}

INV_FILTER = (
    "provider IN (${provider:singlequote}) AND pool IN (${pool:singlequote})"
    " AND bureau IN (${bureau:singlequote})"
)

# The Prometheus panels reuse the ClickHouse-fed variables as regexes. No custom
# "All" value (such as ".*"): Grafana would hand it to the ClickHouse queries too,
# and ``provider IN ('.*')`` matches nothing; ${var:regex} expands "All" to every
# value as (a|b|c), which both datasources can use.
PROVIDER_RE, POOL_RE, BUREAU_RE = "${provider:regex}", "${pool:regex}", "${bureau:regex}"

# Current inventory state per VM as of the end of the time range.
CURRENT_VMS = """
SELECT vm_id,
       argMax(event, event_ts) AS last_event,
       argMax(provider, event_ts) AS provider,
       argMax(pool, event_ts) AS pool,
       argMax(bureau, event_ts) AS bureau,
       argMax(system, event_ts) AS system,
       argMax(vcpu, event_ts) AS vcpu,
       argMax(toFloat64(mem_gb), event_ts) AS mem_gb,
       argMax(arraySum(arrayMap(x -> toFloat64(x), disk_size_gb)), event_ts) AS storage_gb
FROM vm_inventory FINAL
WHERE event_ts <= $__toTime
GROUP BY vm_id
""".strip()

# Bill lines of the current rating run of each (VM, day).
CURRENT_LINES = (
    "(vm_id, day, run_id) IN (SELECT vm_id, day, argMax(run_id, version) "
    "FROM bill_current GROUP BY vm_id, day)"
)


class Dash:
    """One dashboard under construction: panels laid out on a 24-column grid."""

    def __init__(self, uid: str, title: str, description: str, tags: list[str]) -> None:
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels: list[dict[str, Any]] = []
        self.variables: list[dict[str, Any]] = []
        self._x = self._y = self._row_h = 0
        self.time = {"from": "now-7d", "to": "now"}

    def add(self, panel: dict[str, Any], w: int = 12, h: int = 8) -> None:
        if self._x + w > 24:
            self._x, self._y = 0, self._y + self._row_h
            self._row_h = 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self._x, "y": self._y, "w": w, "h": h}
        self._x += w
        self._row_h = max(self._row_h, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self._x:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, w=24, h=1)
        self._x, self._y, self._row_h = 0, self._y + 1, 0

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["cloudtally", *self.tags],
            "timezone": "Asia/Shanghai",
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "refresh": "1m",
            "time": self.time,
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "links": [
                {
                    "type": "dashboards",
                    "tags": ["cloudtally"],
                    "asDropdown": True,
                    "title": "cloudtally",
                    "includeVars": True,
                    "keepTime": True,
                }
            ],
            "panels": self.panels,
        }


# -- targets and panels -------------------------------------------------------------------


def sql(raw: str, ref: str = "A", fmt: str = "table") -> dict[str, Any]:
    """A ClickHouse plugin (v4) SQL target; fmt 'time_series' for wide time series."""
    return {
        "datasource": CH,
        "refId": ref,
        "editorType": "sql",
        "queryType": "timeseries" if fmt == "time_series" else "table",
        "format": 0 if fmt == "time_series" else 1,
        "rawSql": raw.strip(),
    }


def prom(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": PROM, "refId": ref, "expr": expr, "legendFormat": legend}
    if instant:
        t |= {"instant": True, "range": False, "format": "table"}
    return t


def panel(
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    *,
    description: str = "",
    unit: str = "",
    thresholds: dict[str, Any] | None = None,
    threshold_lines: bool = False,
    decimals: int | None = None,
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
) -> dict[str, Any]:
    datasources = {json.dumps(t["datasource"], sort_keys=True) for t in targets}
    ds = targets[0]["datasource"] if len(datasources) == 1 else MIXED
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if thresholds:
        defaults["thresholds"] = thresholds
    cust = dict(custom or {})
    if threshold_lines:
        cust["thresholdsStyle"] = {"mode": "line+area"}
    if cust:
        defaults["custom"] = cust
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": ds,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }


def ch_var(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": CH,
        "query": query,
        "definition": query,
        "refresh": 2,  # on time range change
        "multi": multi,
        "includeAll": multi,
        "sort": 1,
        "current": {},
        "options": [],
    }


def inventory_vars(d: Dash, bureau: bool = True) -> None:
    d.variables.append(
        ch_var(
            "provider", "Provider", "SELECT DISTINCT provider FROM vm_inventory ORDER BY provider"
        )
    )
    d.variables.append(
        ch_var(
            "pool",
            "Pool",
            "SELECT DISTINCT pool FROM vm_inventory WHERE provider IN (${provider:singlequote}) "
            "ORDER BY pool",
        )
    )
    if bureau:
        d.variables.append(
            ch_var(
                "bureau",
                "Bureau",
                "SELECT DISTINCT bureau FROM vm_inventory WHERE provider IN (${provider:singlequote})"
                " AND pool IN (${pool:singlequote}) ORDER BY bureau",
            )
        )


def period_var(d: Dash) -> None:
    """Billing month (first day of the month), newest first."""
    d.variables.append(
        ch_var(
            "period",
            "Billing month",
            "SELECT DISTINCT toString(month) AS period FROM bill_lines ORDER BY period DESC",
            multi=False,
        )
    )


def util_expr(num: str, den: str) -> str:
    return f"if(sum({den}) > 0, 100 * sum({num}) / sum({den}), NULL)"


CPU_ALL = util_expr("cpu_num_all", "cpu_den_all")
MEM_ALL = util_expr("mem_num_all", "mem_den_all")
# storage_num / storage_den is a fraction (used GB / allocated GB); the CPU and
# memory ratios are already percentages.
STO_ALL = "if(sum(storage_den) > 0, 100 * sum(storage_num) / sum(storage_den), NULL)"
CPU_ALL_PCT = "if(sum(cpu_den_all) > 0, sum(cpu_num_all) / sum(cpu_den_all), NULL)"
MEM_ALL_PCT = "if(sum(mem_den_all) > 0, sum(mem_num_all) / sum(mem_den_all), NULL)"
CPU_DAY_PCT = "if(sum(cpu_den_day) > 0, sum(cpu_num_day) / sum(cpu_den_day), NULL)"
MEM_DAY_PCT = "if(sum(mem_den_day) > 0, sum(mem_num_day) / sum(mem_den_day), NULL)"
CPU_NIGHT_PCT = "if(sum(cpu_den_night) > 0, sum(cpu_num_night) / sum(cpu_den_night), NULL)"
MEM_NIGHT_PCT = "if(sum(mem_den_night) > 0, sum(mem_num_night) / sum(mem_den_night), NULL)"
STO_PCT = STO_ALL
DAILY = f"FROM usage_daily FINAL WHERE $__dateFilter(day) AND {INV_FILTER}"


# -- dashboards ----------------------------------------------------------------------------


def fleet_overview() -> Dash:
    d = Dash(
        "cloudtally-fleet",
        "cloudtally / Fleet overview",
        "What the buyer runs: VMs, allocation and utilization by provider and pool.",
        ["fleet"],
    )
    inventory_vars(d)
    live = f"FROM ({CURRENT_VMS}) WHERE last_event != 'deleted' AND {INV_FILTER}"
    d.row("Inventory (as of the end of the time range)")
    for title, expr, unit in (
        ("VMs", "count()", "none"),
        ("vCPU allocated", "sum(vcpu)", "none"),
        ("Memory allocated", "sum(mem_gb)", "decgbytes"),
        ("Storage allocated", "sum(storage_gb)", "decgbytes"),
        ("Bureaus", "uniqExact(bureau)", "none"),
        ("Business systems", "uniqExact(system)", "none"),
    ):
        d.add(panel("stat", title, [sql(f"SELECT {expr} AS value {live}")], unit=unit), w=4, h=4)
    d.add(
        panel(
            "table",
            "Allocation by provider and pool",
            [
                sql(
                    f"SELECT provider, pool, count() AS vms, uniqExact(bureau) AS bureaus, "
                    f"sum(vcpu) AS total_vcpu, round(sum(mem_gb), 1) AS total_mem_gb, "
                    f"round(sum(storage_gb), 1) AS total_storage_gb {live} "
                    f"GROUP BY provider, pool ORDER BY provider, pool"
                )
            ],
        ),
        w=12,
        h=9,
    )
    d.add(
        panel(
            "table",
            "Utilization by provider and pool (time range)",
            [
                sql(
                    f"SELECT provider, pool, round({CPU_ALL_PCT}, 1) AS cpu_pct, "
                    f"round({MEM_ALL_PCT}, 1) AS mem_pct, round({STO_PCT}, 1) AS storage_pct, "
                    f"round(({CPU_ALL_PCT} + {MEM_ALL_PCT} + {STO_PCT}) / 3, 1) AS overall_pct "
                    f"{DAILY} GROUP BY provider, pool ORDER BY provider, pool"
                )
            ],
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            custom={"cellOptions": {"type": "color-background"}},
        ),
        w=12,
        h=9,
    )
    d.row("Activity")
    d.add(
        panel(
            "timeseries",
            "Samples per hour",
            [
                sql(
                    "SELECT toStartOfHour(ts) AS time, count() AS samples FROM samples "
                    "WHERE $__timeFilter(ts) GROUP BY time ORDER BY time",
                    fmt="time_series",
                )
            ],
            unit="none",
        ),
        w=12,
    )
    d.add(
        panel(
            "timeseries",
            "Daily CPU and memory utilization (all hours)",
            [
                sql(
                    f"SELECT toDateTime(day) AS time, {CPU_ALL_PCT} AS cpu, {MEM_ALL_PCT} AS memory "
                    f"{DAILY} GROUP BY time ORDER BY time",
                    fmt="time_series",
                )
            ],
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            threshold_lines=True,
        ),
        w=12,
    )
    d.add(
        panel(
            "table",
            "Metering coverage by pool (gaps are gaps, not zero)",
            [
                sql(
                    "SELECT provider, pool, sum(samples) AS received, sum(expected_samples) AS expected, "
                    "round(100 * sum(samples) / greatest(sum(expected_samples), 1), 2) AS coverage_pct "
                    f"{DAILY} GROUP BY provider, pool ORDER BY coverage_pct"
                )
            ],
            unit="none",
        ),
        w=24,
    )
    return d


def utilization() -> Dash:
    d = Dash(
        "cloudtally-utilization",
        "cloudtally / Pool and provider utilization",
        "CPU, memory and storage utilization per pool and provider, with the "
        "evaluation thresholds drawn at 60 %, 65 % and 70 %.",
        ["utilization"],
    )
    d.time = {"from": "now-30d", "to": "now"}
    inventory_vars(d)
    d.row("Pools")
    d.add(
        panel(
            "timeseries",
            "Overall utilization per pool (mean of CPU, memory, storage)",
            [
                sql(
                    f"SELECT toDateTime(day) AS time, concat(provider, '/', pool) AS pool_name, "
                    f"({CPU_ALL_PCT} + {MEM_ALL_PCT} + {STO_PCT}) / 3 AS overall "
                    f"{DAILY} GROUP BY time, pool_name ORDER BY time, pool_name",
                    fmt="time_series",
                )
            ],
            description="Daily figures; the evaluation scores the monthly mean. Lines at 60/65/70 %.",
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            threshold_lines=True,
        ),
        w=24,
        h=9,
    )
    for title, expr in (("CPU", CPU_ALL_PCT), ("Memory", MEM_ALL_PCT), ("Storage", STO_PCT)):
        d.add(
            panel(
                "timeseries",
                f"{title} utilization per pool",
                [
                    sql(
                        f"SELECT toDateTime(day) AS time, concat(provider, '/', pool) AS pool_name, "
                        f"{expr} AS value {DAILY} GROUP BY time, pool_name ORDER BY time, pool_name",
                        fmt="time_series",
                    )
                ],
                unit="percent",
                thresholds=UTIL_THRESHOLDS,
                threshold_lines=True,
            ),
            w=8,
        )
    d.row("Months (the evaluation's basis)")
    d.add(
        panel(
            "table",
            "Monthly utilization per pool",
            [
                sql(
                    f"SELECT toStartOfMonth(day) AS month, provider, pool, "
                    f"round({CPU_ALL_PCT}, 1) AS cpu_pct, round({MEM_ALL_PCT}, 1) AS mem_pct, "
                    f"round({STO_PCT}, 1) AS storage_pct, "
                    f"round(({CPU_ALL_PCT} + {MEM_ALL_PCT} + {STO_PCT}) / 3, 1) AS overall_pct "
                    f"{DAILY} GROUP BY month, provider, pool ORDER BY month DESC, provider, pool"
                )
            ],
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            custom={"cellOptions": {"type": "color-background"}},
        ),
        w=14,
        h=9,
    )
    d.add(
        panel(
            "bargauge",
            "Monthly utilization per provider",
            [
                sql(
                    f"SELECT provider, ({CPU_ALL_PCT} + {MEM_ALL_PCT} + {STO_PCT}) / 3 AS overall "
                    f"{DAILY} GROUP BY provider ORDER BY provider"
                )
            ],
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            options={"displayMode": "gradient", "orientation": "horizontal"},
        ),
        w=10,
        h=9,
    )
    d.row("Scores exported by the KPI job (Prometheus)")
    d.add(
        panel(
            "table",
            "Pool scores this month",
            [
                prom(
                    f'cloudtally_pool_score{{provider=~"{PROVIDER_RE}", pool=~"{POOL_RE}"}}',
                    instant=True,
                ),
            ],
            description="2-point pool utilization score and 10-point cloud/storage score, "
            "as computed from the policy's score bands.",
        ),
        w=12,
    )
    d.add(
        panel(
            "timeseries",
            "Pool utilization KPI (this month so far)",
            [
                prom(
                    '100 * cloudtally_pool_utilization_ratio{resource="overall", '
                    f'provider=~"{PROVIDER_RE}", pool=~"{POOL_RE}"}}',
                    "{{provider}}/{{pool}}",
                ),
            ],
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            threshold_lines=True,
        ),
        w=12,
    )
    return d


def day_night() -> Dash:
    d = Dash(
        "cloudtally-daynight",
        "cloudtally / Daytime vs night utilization",
        "Business-hours weighted utilization next to the night and all-hours figures: "
        "sizing and fees should follow the daytime figure, not night-time batch peaks.",
        ["utilization"],
    )
    d.time = {"from": "now-30d", "to": "now"}
    inventory_vars(d)
    d.add(
        panel(
            "timeseries",
            "CPU: daytime vs night vs all hours",
            [
                sql(
                    f"SELECT toDateTime(day) AS time, {CPU_DAY_PCT} AS daytime, "
                    f"{CPU_NIGHT_PCT} AS night, {CPU_ALL_PCT} AS all_hours "
                    f"{DAILY} GROUP BY time ORDER BY time",
                    fmt="time_series",
                )
            ],
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            threshold_lines=True,
        ),
        w=12,
    )
    d.add(
        panel(
            "timeseries",
            "Memory: daytime vs night vs all hours",
            [
                sql(
                    f"SELECT toDateTime(day) AS time, {MEM_DAY_PCT} AS daytime, "
                    f"{MEM_NIGHT_PCT} AS night, {MEM_ALL_PCT} AS all_hours "
                    f"{DAILY} GROUP BY time ORDER BY time",
                    fmt="time_series",
                )
            ],
            unit="percent",
            thresholds=UTIL_THRESHOLDS,
            threshold_lines=True,
        ),
        w=12,
    )
    d.add(
        panel(
            "table",
            "By bureau",
            [
                sql(
                    f"SELECT bureau, uniqExact(vm_id) AS vms, round({CPU_DAY_PCT}, 1) AS cpu_day, "
                    f"round({CPU_NIGHT_PCT}, 1) AS cpu_night, round({CPU_ALL_PCT}, 1) AS cpu_all, "
                    f"round({MEM_DAY_PCT}, 1) AS mem_day, round({MEM_NIGHT_PCT}, 1) AS mem_night "
                    f"{DAILY} GROUP BY bureau ORDER BY cpu_day"
                )
            ],
            unit="percent",
        ),
        w=12,
        h=10,
    )
    d.add(
        panel(
            "table",
            "Night-heavy VMs (night CPU above daytime CPU)",
            [
                sql(
                    f"SELECT vm_id, bureau, system, "
                    f"round({CPU_DAY_PCT}, 1) AS cpu_day, round({CPU_NIGHT_PCT}, 1) AS cpu_night, "
                    f"round({CPU_NIGHT_PCT} / greatest({CPU_DAY_PCT}, 0.1), 1) AS night_to_day "
                    f"{DAILY} GROUP BY vm_id, bureau, system HAVING cpu_night > cpu_day "
                    f"ORDER BY night_to_day DESC LIMIT 50"
                )
            ],
            description="The seed's market-regulation case: ~2 % by day, >10 % at night "
            "(batch statistics, backups). Sizing on peaks would overstate these VMs.",
        ),
        w=12,
        h=10,
    )
    d.add(
        panel(
            "heatmap",
            "CPU by hour of day (Asia/Shanghai)",
            [
                sql(
                    "SELECT toHour(hour, 'Asia/Shanghai') AS hour_of_day, "
                    "round(avgIf(cpu_avg, samples > 0), 2) AS mean_cpu "
                    f"FROM usage_hourly FINAL WHERE $__timeFilter(hour) AND {INV_FILTER} "
                    "GROUP BY hour_of_day ORDER BY hour_of_day"
                )
            ],
            unit="percent",
            options={"calculate": False},
        ),
        w=24,
    )
    return d


# Candidates whose latest alert_state row is open (argMax over version: the same on
# 18.16 and 26.x, where FINAL with WHERE on a non-key column is a pitfall).
OPEN_CANDIDATES = """
SELECT kind, vm_id, disk_id,
       argMax(status, version) AS cur_status,
       argMax(bureau, version) AS c_bureau, argMax(system, version) AS c_system,
       argMax(provider, version) AS c_provider, argMax(pool, version) AS c_pool,
       argMax(opened_at, version) AS c_opened, argMax(evidence_window, version) AS c_window,
       argMax(evidence, version) AS c_evidence, argMax(freed_vcpu, version) AS c_vcpu,
       argMax(freed_mem_gb, version) AS c_mem, argMax(freed_storage_gb, version) AS c_storage,
       argMax(savings_year, version) AS c_savings
FROM alert_state
GROUP BY kind, vm_id, disk_id
HAVING cur_status = 'open'
""".strip()
CANDIDATE_FILTER = (
    "c_provider IN (${provider:singlequote}) AND c_pool IN (${pool:singlequote})"
    " AND c_bureau IN (${bureau:singlequote})"
)


def evidence(key: str, agg: str = "") -> str:
    """A number from the candidate's evidence JSON (no JSON functions on 18.16):
    the first match, or min/max over every match (storage months)."""
    pattern = f"'\"{key}\": ?([-0-9.eE+]+)'"
    if agg:
        return (
            f"arrayReduce('{agg}', arrayMap(x -> toFloat64(x), extractAll(c_evidence, {pattern})))"
        )
    return f"toFloat64OrNull(extract(c_evidence, {pattern}))"


def candidates() -> Dash:
    d = Dash(
        "cloudtally-candidates",
        "cloudtally / Idle and rightsizing candidates",
        "VMs to reclaim or downsize under the policy's rules, with the capacity and "
        "money they free.",
        ["utilization", "capacity"],
    )
    d.time = {"from": "now-14d", "to": "now"}
    inventory_vars(d)
    sel = f'provider=~"{PROVIDER_RE}", pool=~"{POOL_RE}", bureau=~"{BUREAU_RE}"'
    pp = f'provider=~"{PROVIDER_RE}", pool=~"{POOL_RE}"'
    d.row("Open candidates (analytics job, Prometheus)")
    d.add(
        panel("stat", "Idle VMs", [prom(f'sum(cloudtally_idle_candidates{{kind="vm", {sel}}})')]),
        w=4,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "Idle storage partitions",
            [prom(f'sum(cloudtally_idle_candidates{{kind="storage_partition", {sel}}})')],
        ),
        w=4,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "Rightsizing candidates",
            [prom(f"sum(cloudtally_rightsizing_candidates{{{sel}}})")],
        ),
        w=4,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "vCPU freed by rightsizing",
            [prom(f"sum(cloudtally_rightsizing_freed_vcpu{{{pp}}})")],
        ),
        w=4,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "Memory freed by rightsizing",
            [prom(f"sum(cloudtally_rightsizing_freed_memory_gb{{{pp}}})")],
            unit="decgbytes",
        ),
        w=4,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "Savings per year",
            [prom(f"sum(cloudtally_rightsizing_savings_cny_per_year{{{pp}}})")],
            unit="currencyCNY",
        ),
        w=4,
        h=4,
    )
    d.add(
        panel(
            "timeseries",
            "Idle candidates per pool",
            [
                prom(
                    f"sum by (provider, pool, kind) (cloudtally_idle_candidates{{{sel}}})",
                    "{{provider}}/{{pool}} {{kind}}",
                )
            ],
        ),
        w=12,
    )
    d.add(
        panel(
            "timeseries",
            "Rightsizing savings per pool (CNY/year)",
            [
                prom(
                    f"sum by (provider, pool) (cloudtally_rightsizing_savings_cny_per_year{{{pp}}})",
                    "{{provider}}/{{pool}}",
                )
            ],
            unit="currencyCNY",
        ),
        w=12,
    )
    d.row("Open candidates and their events (alert state, ClickHouse)")
    d.add(
        panel(
            "table",
            "Open candidates with evidence and savings",
            [
                sql(
                    "SELECT kind, vm_id, disk_id, c_bureau AS bureau_id, c_provider AS provider_id, "
                    "c_pool AS pool_id, c_system AS system_id, c_opened AS opened, "
                    "c_window AS evidence_window, "
                    f"round(if(kind = 'storage_idle', NULL, {evidence('cpu_(?:avg|day)')}), 2) AS cpu_pct, "
                    f"round(if(kind = 'storage_idle', NULL, {evidence('mem_(?:avg|day)')}), 2) AS mem_pct, "
                    f"round(if(kind = 'storage_idle', {evidence('used_pct_max', 'max')}, NULL), 2) AS used_pct_max, "
                    f"round({evidence('(?:day_)?coverage', 'min')}, 3) AS coverage, "
                    "multiIf(kind = 'rightsizing', concat("
                    "extract(c_evidence, '\"current_vcpu\": ?([0-9]+)'), ' vCPU ', "
                    "extract(c_evidence, '\"current_mem_gb\": ?\"?([0-9.]+)'), ' GB -> ', "
                    "extract(c_evidence, '\"target_vcpu\": ?([0-9]+)'), ' vCPU ', "
                    "extract(c_evidence, '\"target_mem_gb\": ?\"?([0-9.]+)'), ' GB'), "
                    "kind = 'storage_idle', concat(extract(c_evidence, '\"size_gb\": ?\"?([0-9.]+)'), "
                    "' GB ', extract(c_evidence, '\"tier\": ?\"([a-z]+)')), "
                    "concat(toString(c_vcpu), ' vCPU ', toString(toFloat64(c_mem)), ' GB')) AS size, "
                    "c_vcpu AS freed_vcpu, toFloat64(c_mem) AS freed_mem_gb, "
                    "toFloat64(c_storage) AS freed_storage_gb, c_savings AS savings_cny_year "
                    f"FROM ({OPEN_CANDIDATES}) WHERE {CANDIDATE_FILTER} "
                    "ORDER BY kind, savings_cny_year DESC, vm_id, disk_id LIMIT 500"
                )
            ],
            description="Every open idle, storage-idle and rightsizing candidate as the alerts "
            "job recorded it (alert_state, latest row per candidate): the evidence window, "
            "the figures that made it a candidate (idle: CPU/memory average; rightsizing: "
            "daytime-weighted; storage: highest monthly used %), coverage, the size now and "
            "proposed, and CNY per year saved (rightsizing, at catalog price x tender discount).",
        ),
        w=24,
        h=10,
    )
    events = (
        "FROM alert_events WHERE $__timeFilter(at) AND provider IN (${provider:singlequote}) "
        "AND pool IN (${pool:singlequote}) AND bureau IN (${bureau:singlequote})"
    )
    d.add(
        panel(
            "timeseries",
            "Candidate events per day (new / resolved)",
            [
                sql(
                    "SELECT toStartOfDay(at, 'Asia/Shanghai') AS time, "
                    "concat(kind, ' ', toString(change)) AS event_kind, count() AS events "
                    f"{events} GROUP BY time, event_kind ORDER BY time, event_kind",
                    fmt="time_series",
                )
            ],
            description="Events the alerts job sent to the alerts topic: one when a candidate "
            "appears, one when it stops qualifying; none while nothing changes.",
            custom={"drawStyle": "bars"},
        ),
        w=10,
        h=9,
    )
    d.add(
        panel(
            "table",
            "Candidate events (alerts topic audit trail)",
            [
                sql(
                    "SELECT at, toString(change) AS event_change, kind, vm_id, disk_id, bureau, "
                    "provider, pool, as_of, "
                    'toFloat64OrNull(extract(payload, \'"savings_year":"([0-9.]+)"\')) '
                    f"AS savings_cny_year, event_id {events} "
                    "ORDER BY at DESC, kind, vm_id LIMIT 200"
                )
            ],
            description="alert_events: each event as sent (event_id is stable, so a resend after "
            "a crash shows the same id twice).",
        ),
        w=14,
        h=9,
    )
    d.row("Evidence over the time range (ClickHouse)")
    d.add(
        panel(
            "table",
            "Least used VMs (CPU and memory average and maximum)",
            [
                sql(
                    "SELECT vm_id, provider, pool, bureau, system, max(vcpu) AS alloc_vcpu, "
                    "max(toFloat64(mem_gb)) AS alloc_mem_gb, "
                    f"round({CPU_ALL_PCT}, 2) AS cpu_mean, round(max(cpu_max), 2) AS cpu_peak, "
                    f"round({MEM_ALL_PCT}, 2) AS mem_mean, round(max(mem_max), 2) AS mem_peak, "
                    "round(sum(samples) / greatest(sum(expected_samples), 1), 3) AS sample_coverage "
                    f"{DAILY} GROUP BY vm_id, provider, pool, bureau, system HAVING cpu_mean IS NOT NULL "
                    "ORDER BY greatest(cpu_mean, mem_mean) LIMIT 100"
                )
            ],
            description="Raw evidence, no threshold applied: the candidate lists above apply "
            "the policy's rules (window, averages, maxima, coverage).",
        ),
        w=24,
        h=10,
    )
    d.add(
        panel(
            "table",
            "Least used storage partitions (max used % per disk)",
            [
                sql(
                    "SELECT d.vm_id AS vm_id, d.disk_id AS disk_id, d.tier AS tier, "
                    "max(toFloat64(d.size_gb)) AS disk_gb, round(max(d.used_pct), 2) AS max_used_pct, "
                    "count() AS days "
                    "FROM disk_usage_daily AS d FINAL WHERE $__dateFilter(day) AND d.vm_id IN "
                    f"(SELECT vm_id FROM usage_daily FINAL WHERE $__dateFilter(day) AND {INV_FILTER}) "
                    "GROUP BY vm_id, disk_id, tier HAVING max_used_pct IS NOT NULL "
                    "ORDER BY max_used_pct LIMIT 100"
                )
            ],
        ),
        w=24,
        h=10,
    )
    return d


def billing() -> Dash:
    d = Dash(
        "cloudtally-billing",
        "cloudtally / Billing against budget",
        "Rated bill lines (current rating run) by provider, pool and bureau for the "
        "billing month, and the fiscal year's spend against the programme budget.",
        ["billing"],
    )
    d.time = {"from": "now-1y", "to": "now"}
    inventory_vars(d)
    period_var(d)
    month = "month = toDate('${period}')"
    lines = f"FROM bill_lines FINAL WHERE {CURRENT_LINES} AND {INV_FILTER}"
    d.row("Billing month ${period}")
    for title, col in (
        ("List amount", "list_amount"),
        ("After tender discount", "after_discount"),
        ("After low-utilization cut", "after_cut"),
    ):
        d.add(
            panel(
                "stat",
                title,
                [sql(f"SELECT sum({col}) AS amount {lines} AND {month}")],
                unit="currencyCNY",
                decimals=2,
            ),
            w=6,
            h=4,
        )
    d.add(
        panel(
            "stat",
            "VM-days rated",
            [sql(f"SELECT uniqExact(vm_id, day) AS vm_days {lines} AND {month}")],
        ),
        w=6,
        h=4,
    )
    d.add(
        panel(
            "table",
            "By provider and pool",
            [
                sql(
                    f"SELECT provider, pool, sum(list_amount) AS listed, "
                    f"sum(after_discount) AS discounted, sum(after_cut) AS amount, "
                    f"sum(list_amount) - sum(after_cut) AS saved {lines} AND {month} "
                    f"GROUP BY provider, pool ORDER BY provider, pool"
                )
            ],
            unit="currencyCNY",
        ),
        w=12,
        h=9,
    )
    d.add(
        panel(
            "table",
            "By bureau",
            [
                sql(
                    f"SELECT bureau, uniqExact(vm_id) AS vms, sum(after_cut) AS amount, "
                    f"sumIf(list_amount - after_cut, list_amount > after_cut) AS cut "
                    f"{lines} AND {month} GROUP BY bureau ORDER BY amount DESC"
                )
            ],
            unit="currencyCNY",
        ),
        w=12,
        h=9,
    )
    d.add(
        panel(
            "piechart",
            "By resource",
            [
                sql(
                    f"SELECT resource, sum(after_cut) AS amount {lines} AND {month} "
                    f"GROUP BY resource ORDER BY resource"
                )
            ],
            unit="currencyCNY",
        ),
        w=8,
    )
    d.add(
        panel(
            "table",
            "Provider statement lines (volume tiers)",
            [
                sql(
                    "SELECT provider, kind, status, basis, toFloat64(basis_value) AS basis_value, "
                    "fee, amount, tariff_version FROM statement_lines FINAL "
                    f"WHERE {month} AND provider IN (${{provider:singlequote}}) ORDER BY provider, kind"
                )
            ],
            unit="currencyCNY",
        ),
        w=16,
    )
    d.row("Fiscal year")
    fy = "fiscal_year = (SELECT any(fiscal_year) FROM bill_lines WHERE month = toDate('${period}'))"
    d.add(
        panel(
            "timeseries",
            "Cumulative spend vs programme budget",
            [
                sql(
                    "SELECT toDateTime(d) AS time, c AS spend FROM (SELECT groupArray(day) AS days, "
                    "arrayCumSum(groupArray(amount)) AS cums FROM (SELECT day, "
                    f"toFloat64(sum(after_cut)) AS amount {lines} AND {fy} GROUP BY day ORDER BY day)) "
                    "ARRAY JOIN days AS d, cums AS c ORDER BY time",
                    fmt="time_series",
                ),
                prom('max(cloudtally_billing_budget_cny{scope="programme"})', "budget", ref="B"),
            ],
            description="Spend from ClickHouse; the budget line is the policy file's programme "
            "budget as exported by the billing job.",
            unit="currencyCNY",
        ),
        w=24,
        h=9,
    )
    d.add(
        panel(
            "timeseries",
            "Monthly amount by provider",
            [
                sql(
                    f"SELECT toDateTime(month) AS time, provider, sum(after_cut) AS amount "
                    f"{lines} AND $__dateFilter(day) GROUP BY time, provider ORDER BY time, provider",
                    fmt="time_series",
                )
            ],
            unit="currencyCNY",
            custom={"drawStyle": "bars"},
        ),
        w=12,
    )
    d.add(
        panel(
            "table",
            "Rating runs",
            [
                sql(
                    "SELECT run_id, kind, started_at, finished_at, policy_name, reason, actor, "
                    "line_count, vm_days, unpriced, total, previous_total FROM rating_runs "
                    "WHERE period_from < $__toTime AND period_to > $__fromTime "
                    "ORDER BY started_at DESC LIMIT 50"
                )
            ],
            description="Runs whose rated period overlaps the time range: the worker's stream "
            "runs (one per batch of closed days), re-rates asked for by hand, month closes.",
        ),
        w=12,
    )
    return d


# Latest finished verification run of each invoice that is not withdrawn.
LATEST_RUNS = (
    "run_id IN (SELECT argMax(run_id, finished_at) FROM verification_runs FINAL "
    "WHERE status = 'done' AND invoice_id IN (SELECT invoice_id FROM invoices FINAL "
    "WHERE status != 'withdrawn') GROUP BY invoice_id)"
)


def verification() -> Dash:
    d = Dash(
        "cloudtally-verification",
        "cloudtally / Invoice verification",
        "Provider invoices checked against metered, re-rated usage: totals billed vs "
        "expected, and every finding with the rule that found it.",
        ["billing"],
    )
    d.time = {"from": "now-1y", "to": "now"}
    inventory_vars(d)
    scope = INV_FILTER
    d.row("Latest verification of each invoice (billing periods in the time range)")
    inv = (
        "invoice_id IN (SELECT invoice_id FROM invoices FINAL WHERE "
        "$__timeFilter(billing_period_start))"
    )
    totals = f"FROM verification_totals WHERE {LATEST_RUNS} AND {inv} AND {scope}"
    for title, expr, w in (
        ("Billed", "sum(billed)", 5),
        ("Expected (re-rated)", "sum(expected)", 5),
        ("Over-billed", "sum(over)", 5),
        ("Under-billed", "sum(under)", 5),
        # V1/V2: charges cloudtally cannot verify, shown apart, never over-billing
        ("Not verifiable (shown apart)", "sum(unverified)", 4),
    ):
        d.add(
            panel(
                "stat",
                title,
                [sql(f"SELECT {expr} AS amount {totals}")],
                unit="currencyCNY",
                decimals=2,
            ),
            w=w,
            h=4,
        )
    d.add(
        panel(
            "table",
            "Invoices",
            [
                sql(
                    "SELECT i.invoice_id AS invoice_id, i.provider AS provider, provider_invoice_no, "
                    "billing_period_start, billing_period_end, i.status AS status, row_count, "
                    "i.billed_total AS billed_total, r.verified_total AS verified_total, "
                    "r.over_total AS over_total, r.under_total AS under_total, r.findings AS findings "
                    "FROM invoices AS i FINAL ANY LEFT JOIN (SELECT invoice_id, verified_total, over_total, "
                    f"under_total, findings FROM verification_runs FINAL WHERE {LATEST_RUNS}) AS r "
                    "USING (invoice_id) WHERE $__timeFilter(billing_period_start) "
                    "AND i.provider IN (${provider:singlequote}) ORDER BY billing_period_start DESC"
                )
            ],
            unit="none",
        ),
        w=24,
        h=8,
    )
    d.add(
        panel(
            "table",
            "Billed vs expected by provider, pool and bureau",
            [
                sql(
                    "SELECT provider, pool, bureau, sum(lines) AS invoice_lines, "
                    "sum(findings) AS finding_count, sum(billed) AS billed_cny, "
                    "sum(expected) AS expected_cny, sum(over) AS over_cny, "
                    "sum(under) AS under_cny, sum(unverified) AS unverified_cny "
                    f"{totals} GROUP BY provider, pool, bureau "
                    "ORDER BY over_cny DESC"
                )
            ],
            unit="currencyCNY",
        ),
        w=24,
        h=9,
    )
    findings = f"FROM verification_findings WHERE {LATEST_RUNS} AND {inv} AND {scope}"
    d.row("Findings")
    d.add(
        panel(
            "barchart",
            "Findings by rule",
            [
                sql(
                    f"SELECT rule_id, count() AS findings {findings} GROUP BY rule_id ORDER BY findings DESC"
                )
            ],
        ),
        w=8,
        h=9,
    )
    d.add(
        panel(
            "table",
            "Amount at stake by rule and severity",
            [
                sql(
                    f"SELECT rule_id, kind, severity, count() AS findings, "
                    f"sum(amount_at_stake) AS at_stake {findings} GROUP BY rule_id, kind, severity "
                    "ORDER BY at_stake DESC"
                )
            ],
            unit="currencyCNY",
        ),
        w=16,
        h=9,
    )
    d.add(
        panel(
            "table",
            "Findings",
            [
                sql(
                    "SELECT invoice_id, seq, severity, rule_id, kind, provider, pool, bureau, resource_id, "
                    "resource_type, period_start, period_end, amount_at_stake, line_numbers, message "
                    f"{findings} ORDER BY amount_at_stake DESC, invoice_id, seq LIMIT 500"
                )
            ],
            description="Each finding names its rule and the invoice lines it is about; "
            "the API serves its evidence.",
        ),
        w=24,
        h=12,
    )
    return d


# Position of each derivation watermark (worker.derive) and the rollup-queue
# entries after it. Queue versions and the two queue watermarks are ingest times
# in ms; rating_closed_through is a Python date ordinal (719163 = 1970-01-01).
def _waiting(name: str) -> str:
    return (
        "(SELECT uniqExact(vm_id, hour) FROM rollup_queue WHERE version > "
        f"(SELECT max(value) FROM worker_state WHERE name = '{name}'))"
    )


WATERMARKS = (
    "SELECT name AS watermark, "
    "if(name = 'rating_closed_through', "
    "toString(addDays(toDate('1970-01-01'), toInt32(max(value)) - 719163)), "
    "toString(toDateTime(intDiv(max(value), 1000), 'UTC'))) AS position, "
    "max(updated_at) AS last_moved, toUInt32(now()) - toUInt32(max(updated_at)) AS age_s, "
    f"multiIf(name = 'rollup_watermark', {_waiting('rollup_watermark')}, "
    f"name = 'rating_watermark', {_waiting('rating_watermark')}, NULL) AS hours_waiting "
    "FROM worker_state GROUP BY name ORDER BY name"
)


def store_replicas(d: Dash) -> None:
    """The replicated store (cluster mode): each replica's health as the services see it.

    Every process with a replicated store reports every replica, so panels take
    the max over instances (the worst view) per replica.
    """
    d.row("Store replicas (replicated ClickHouse)")

    def below_one(color: str, other: str) -> dict[str, Any]:
        return {"mode": "absolute", "steps": [{"color": color, "value": None},
                                              {"color": other, "value": 1}]}  # fmt: skip

    d.add(
        panel(
            "stat",
            "Replicas up",
            [prom("min by (replica) (cloudtally_store_replica_up)", "{{replica}}")],
            description="0 = a service cannot reach this replica: the store has moved to the "
            "other one; bring it back (docs/operations.md, Recovering the replicated store).",
            thresholds=below_one("red", "green"),
        ),
        w=6,
        h=5,
    )
    d.add(
        panel(
            "stat",
            "Read-only tables",
            [prom("max by (replica) (cloudtally_store_replica_readonly_tables)", "{{replica}}")],
            description="Replicated tables that refuse writes: ZooKeeper/Keeper lost (all "
            "replicas), or a replica back from a crash whose old session has not expired yet.",
            thresholds=below_one("green", "red"),
        ),
        w=6,
        h=5,
    )
    d.add(
        panel(
            "timeseries",
            "Replication queue",
            [
                prom(
                    "max by (replica, kind) (cloudtally_store_replication_queue)",
                    "{{replica}} {{kind}}",
                )
            ],
            description="inserts = parts this replica still has to fetch; while > 0 the "
            "leader's rollups are provisional (their watermark is held).",
        ),
        w=6,
        h=5,
    )
    d.add(
        panel(
            "timeseries",
            "Replica delay and failovers",
            [
                prom(
                    "max by (replica) (cloudtally_store_replica_delay_seconds)", "delay {{replica}}"
                ),
                prom(
                    "sum by (reason) (increase(cloudtally_store_failovers_total[5m]))",
                    "failovers {{reason}} /5m",
                    "B",
                ),
            ],
            description="Seconds this replica is behind; queries moved to another replica "
            "(unreachable, timeout, read-only, behind, ...).",
        ),
        w=6,
        h=5,
    )


def faults(d: Dash) -> None:
    """Round-2 fault signals: a store that holds ingest back, orphan samples, the embedded
    broker's supervisor, and the audit ledger's last verification."""
    d.row("Faults: store held back, orphans, broker, audit ledger")
    d.add(
        panel(
            "timeseries",
            "Batches held back by the store",
            [
                prom("max by (instance, stage) (cloudtally_store_held_seconds)",
                     "held s {{instance}} {{stage}}"),
                prom("sum by (stage) (cloudtally_store_held_batches)", "batches {{stage}}", "B"),
            ],
            description="A worker that cannot write holds its batch unacknowledged "
            "(backpressure; nothing lost) and retries until the store returns. Over 120 s: "
            "CloudtallyStoreUnavailable.",
        ),
        w=6,
        h=6,
    )  # fmt: skip
    d.add(
        panel(
            "timeseries",
            "Orphan samples (VM ids without inventory)",
            [
                prom("max(cloudtally_orphan_vms)", "VM ids"),
                prom("max(cloudtally_orphan_oldest_age_seconds)", "oldest (s)", "B"),
            ],
            description="Kept, not rolled up or billed until inventory announces the VM; "
            "CloudtallyOrphanSamples after a 1 h grace period.",
        ),
        w=6,
        h=6,
    )
    d.add(
        panel(
            "timeseries",
            "Embedded broker (supervised)",
            [
                prom("min by (component) (cloudtally_broker_up)", "up {{component}}"),
                prom(
                    "sum by (component) (increase(cloudtally_broker_restarts_total[1h]))",
                    "restarts/h {{component}}",
                    "B",
                ),
            ],
            description="Tansu and its s3rver storage under `cloudtally up`: 0 = down (the "
            "supervisor restarts it; collectors keep what they could not send).",
        ),
        w=6,
        h=6,
    )
    d.add(
        panel(
            "stat",
            "Audit ledger problems",
            [prom("max(cloudtally_audit_problems)", "problems")],
            description="Rows that no longer hash to the ledger entry that fixed them (0 = "
            "every entry verifies); CloudtallyLedgerMismatch. docs/audit.md.",
            thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                      {"color": "red", "value": 1}]},
        ),
        w=6,
        h=6,
    )  # fmt: skip


def pipeline() -> Dash:
    d = Dash(
        "cloudtally-pipeline",
        "cloudtally / Pipeline health",
        "Collectors -> Kafka -> workers -> ClickHouse: throughput, rejected input, "
        "consumer progress, store latency and errors.",
        ["ops"],
    )
    d.time = {"from": "now-6h", "to": "now"}
    d.variables.append(
        {
            "type": "query",
            "name": "topic",
            "label": "Topic",
            "datasource": PROM,
            "query": {
                "query": "label_values(cloudtally_messages_consumed_total, topic)",
                "refId": "topic",
            },
            "definition": "label_values(cloudtally_messages_consumed_total, topic)",
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "sort": 1,
            "current": {},
            "options": [],
        }
    )
    d.row("Throughput (Prometheus)")
    d.add(
        panel("stat", "Targets up", [prom('sum by (job) (up{job=~"cloudtally-.*"})', "{{job}}")]),
        w=6,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "Consumer lag (messages)",
            [prom('sum(cloudtally:consumer_lag:sum_by_topic{topic=~"$topic"})')],
        ),
        w=6,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "Dead-letter ratio (10 min)",
            [prom("cloudtally:dead_letter_ratio:rate10m")],
            unit="percentunit",
            decimals=3,
        ),
        w=6,
        h=4,
    )
    d.add(
        panel(
            "stat",
            "Last flush age",
            [prom('max(cloudtally:last_flush_age_seconds{topic=~"$topic"})')],
            unit="s",
        ),
        w=6,
        h=4,
    )
    d.add(
        panel(
            "timeseries",
            "Samples per second: produced vs written",
            [
                prom("sum(cloudtally:samples_produced:rate1m)", "produced (collectors)"),
                prom(
                    "sum by (table) (cloudtally:samples_ingested:rate1m)", "written {{table}}", "B"
                ),
            ],
            unit="rowsps",
        ),
        w=12,
    )
    d.add(
        panel(
            "timeseries",
            "Messages consumed per second",
            [prom('cloudtally:messages_consumed:rate1m{topic=~"$topic"}', "{{topic}}")],
            unit="reqps",
        ),
        w=12,
    )
    d.row("Consumer progress")
    d.add(
        panel(
            "timeseries",
            "Lag per topic (high watermark - last flushed offset)",
            [prom('cloudtally:consumer_lag:sum_by_topic{topic=~"$topic"}', "{{topic}}")],
        ),
        w=12,
    )
    d.add(
        panel(
            "table",
            "Lag per partition",
            [prom('cloudtally:consumer_lag:by_partition{topic=~"$topic"}', instant=True)],
        ),
        w=12,
    )
    d.row("Store")
    d.add(
        panel(
            "timeseries",
            "Insert latency p50 / p95",
            [
                prom("cloudtally:insert_seconds:p50_5m", "p50 {{table}}"),
                prom("cloudtally:insert_seconds:p95_5m", "p95 {{table}}", "B"),
            ],
            unit="s",
        ),
        w=8,
    )
    d.add(
        panel(
            "timeseries",
            "Rows per insert (avg)",
            [prom("cloudtally:insert_batch_rows:avg5m", "{{table}}")],
        ),
        w=8,
    )
    d.add(
        panel(
            "timeseries",
            "Flush time p95",
            [prom('cloudtally:flush_seconds:p95_5m{topic=~"$topic"}', "{{topic}}")],
            unit="s",
        ),
        w=8,
    )
    d.add(
        panel(
            "timeseries",
            "Store errors per second",
            [prom("cloudtally:ingest_errors:rate5m", "{{stage}}")],
        ),
        w=12,
    )
    d.add(
        panel(
            "timeseries",
            "Dead letters per second by reason",
            [prom('cloudtally:dead_letters:rate5m{topic=~"$topic"}', "{{topic}} {{reason}}")],
        ),
        w=12,
    )
    store_replicas(d)
    faults(d)
    d.row("Derivation (leader worker timers: rollup, rating, alerts pass)")
    d.add(
        panel(
            "bargauge",
            "Time since last success per task",
            [
                prom(
                    "time() - max by (task) (cloudtally_analytics_last_success_timestamp_seconds)",
                    "{{task}}",
                    instant=True,
                )
            ],
            description="rollup and rating: the worker's derivation steps; alerts: candidate "
            "events; candidates, kpi, billing: the gauges refreshed in the same pass. Max over "
            "workers, since only the leader runs them. CloudtallyAnalyticsStale fires at 2 h.",
            unit="s",
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "green", "value": None},
                    {"color": "orange", "value": 600},
                    {"color": "red", "value": 7200},
                ],
            },
            options={"displayMode": "basic", "orientation": "horizontal"},
        ),
        w=8,
    )
    d.add(
        panel(
            "timeseries",
            "Derivation errors per task (per hour)",
            [
                prom(
                    "sum by (task) (increase(cloudtally_analytics_errors_total[1h]))",
                    "{{task}}",
                )
            ],
            description="A failed step is retried on the next tick from the same watermark; "
            "the worker log has the exception.",
        ),
        w=8,
    )
    d.add(
        panel(
            "timeseries",
            "Candidate events sent per hour",
            [
                prom(
                    "sum by (kind, change) (increase(cloudtally_utilization_alerts_total[1h]))",
                    "{{kind}} {{change}}",
                )
            ],
        ),
        w=8,
    )
    d.add(
        panel(
            "table",
            "Derivation watermarks (worker_state)",
            [sql(WATERMARKS)],
            description="rollup_watermark / rating_watermark: rollup-queue entries written up "
            "to this ingest time are done (hours_waiting: touched VM-hours queued after it); "
            "rating_closed_through: the last local day rated as closed. Current state, not "
            "limited to the time range.",
        ),
        w=24,
        h=6,
    )
    d.row("What the store recorded (ClickHouse)")
    d.add(
        panel(
            "timeseries",
            "Rows written per minute (ingest_log)",
            [
                sql(
                    "SELECT toDateTime(intDiv(toUInt32(flushed_at), 60) * 60) AS time, topic, "
                    "sum(rows_written) AS rows FROM ingest_log WHERE $__timeFilter(flushed_at) "
                    "GROUP BY time, topic ORDER BY time, topic",
                    fmt="time_series",
                )
            ],
        ),
        w=12,
    )
    d.add(
        panel(
            "table",
            "Progress per partition",
            [
                sql(
                    "SELECT topic, partition, max(last_offset) AS flushed_offset, "
                    "max(flushed_at) AS last_flush, sum(messages) AS message_count, "
                    "sum(rows_written) AS written, sum(rows_rejected) AS rejected FROM ingest_log "
                    "WHERE $__timeFilter(flushed_at) GROUP BY topic, partition ORDER BY topic, partition"
                )
            ],
        ),
        w=12,
    )
    d.add(
        panel(
            "table",
            "Dead letters by reason",
            [
                sql(
                    "SELECT topic, section, reason, count() AS rows, min(received_at) AS first_seen, "
                    "max(received_at) AS last_seen FROM dead_letters FINAL "
                    "WHERE $__timeFilter(received_at) GROUP BY topic, section, reason "
                    "ORDER BY rows DESC LIMIT 100"
                )
            ],
        ),
        w=12,
    )
    d.add(
        panel(
            "table",
            "Latest dead letters",
            [
                sql(
                    "SELECT received_at, topic, partition, offset, row_index, section, reason, "
                    "substring(payload, 1, 200) AS payload FROM dead_letters FINAL "
                    "WHERE $__timeFilter(received_at) ORDER BY received_at DESC, offset DESC LIMIT 50"
                )
            ],
        ),
        w=12,
    )
    return d


DASHBOARDS = {
    "fleet-overview": fleet_overview,
    "utilization": utilization,
    "day-night": day_night,
    "candidates": candidates,
    "billing": billing,
    "verification": verification,
    "pipeline": pipeline,
}


def build() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(make().json(), indent=2, ensure_ascii=False) + "\n"
        for name, make in DASHBOARDS.items()
    }


def main() -> int:
    files = build()
    if "--check" in sys.argv:
        stale = [
            n
            for n, text in files.items()
            if not (OUT / n).exists() or (OUT / n).read_text() != text
        ]
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in files)
        if stale or extra:
            print(f"out of date: {stale}; not generated: {extra}", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
