"""What metric names the services expose, and which names a PromQL expression uses.

Shared by the rule tests and the dashboard tests: every ``cloudtally_*`` name in
any rule or panel must be a series the services actually expose (as
prometheus_client writes it: a Counter ``x_total`` also gives ``x_created``, a
Histogram ``x`` gives ``x_bucket``/``x_sum``/``x_count``), and every
``cloudtally:*`` name must be a recording rule.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
AM_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
DOCS = ROOT / "docs" / "operations.md"

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_METRIC = re.compile(r"(?<![A-Za-z0-9_:])cloudtally_[A-Za-z0-9_]+")
_RECORDED = re.compile(r"(?<![A-Za-z0-9_:])cloudtally:[A-Za-z0-9_:]+")


def exposed_metric_names() -> dict[str, str]:
    """Every sample name cloudtally.metrics exposes -> its family type."""
    from prometheus_client.metrics import MetricWrapperBase

    import cloudtally.metrics as m
    from cloudtally.broker.status import RestartCollector

    names: dict[str, str] = {}
    families = [f for obj in vars(m).values() if isinstance(obj, MetricWrapperBase)
                for f in obj.describe()]  # fmt: skip
    # Custom collectors registered at run time (the broker supervisor's status file).
    families += list(RestartCollector(Path("/nonexistent/supervisor.json")).collect())
    for family in families:
        for suffix in _SUFFIXES[family.type]:
            names[family.name + suffix] = family.type
    return names


def names_in(expr: str) -> tuple[set[str], set[str]]:
    """(raw metric names, recording-rule names) used by one PromQL expression."""
    bare = _STRING.sub('""', expr)
    return set(_METRIC.findall(bare)), set(_RECORDED.findall(bare))


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted((PROM_DIR / "rules").glob("*.yml")):
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def recorded_names() -> set[str]:
    return {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def tool(name: str) -> str:
    """Path of a Debian tool; missing is a failure in CI, a skip elsewhere."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not installed (Debian packages prometheus / prometheus-alertmanager)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
