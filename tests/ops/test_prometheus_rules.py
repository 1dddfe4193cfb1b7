"""Prometheus and Alertmanager configuration, checked by the real Debian tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.ops._promql import (
    AM_CONFIG,
    DOCS,
    PROM_DIR,
    alert_rules,
    exposed_metric_names,
    names_in,
    recorded_names,
    rule_groups,
    tool,
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=PROM_DIR)


def test_promtool_check_config(tmp_path) -> None:
    """On a copy with the scrape token file an operator creates (secrets/README.md)."""
    shutil.copytree(PROM_DIR, tmp_path / "prom")
    (tmp_path / "prom" / "secrets" / "cloudtally-metrics-token").write_text("token\n")
    r = subprocess.run(
        [tool("promtool"), "check", "config", "prometheus.yml"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path / "prom",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 rule files found" in r.stdout


def test_promtool_check_rules() -> None:
    rules = sorted(str(p) for p in (PROM_DIR / "rules").glob("*.yml"))
    r = run(tool("promtool"), "check", "rules", *rules)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests_pass() -> None:
    r = run(tool("promtool"), "test", "rules", "tests/alerts_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests_are_generated_from_current_rules() -> None:
    r = subprocess.run(
        [sys.executable, str(PROM_DIR / "tests" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def test_every_alert_is_exercised_firing_and_not_firing() -> None:
    sys.path.insert(0, str(PROM_DIR / "tests"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in generate.CASES:
        for _, name, expected in case["checks"]:
            (fired if expected else quiet).add(name)
    names = {r["alert"] for r in alert_rules()}
    assert names - fired == set(), "alerts never seen firing in a unit test"
    assert names - quiet == set(), "alerts never checked to stay quiet"


def test_alertmanager_config_is_valid() -> None:
    r = subprocess.run(
        [tool("amtool"), "check-config", str(AM_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


EXPECTED_RECEIVER = {
    ("ops", "critical"): "ops-pager",
    ("ops", "warning"): "ops",
    ("capacity", "info"): "capacity",
    ("capacity", "warning"): "capacity",
    ("finance", "warning"): "finance",
}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_each_alert_routes_to_its_team(rule: dict) -> None:
    labels = rule["labels"]
    expected = EXPECTED_RECEIVER[(labels["team"], labels["severity"])]
    args = [f"{k}={v}" for k, v in labels.items()] + [f"alertname={rule['alert']}"]
    r = subprocess.run(
        [
            tool("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={AM_CONFIG}",
            f"--verify.receivers={expected}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_labels_annotations_and_a_runbook_section(rule: dict) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["labels"]["team"] in {"ops", "capacity", "finance"}
    ann = rule["annotations"]
    assert ann["summary"] and ann["description"]
    anchor = ann["runbook_url"].split("#", 1)[1]
    assert anchor == rule["alert"].lower()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+\s+(.*)$", DOCS.read_text(), flags=re.M)
    }
    assert anchor in headings, f"docs/operations.md has no heading for {rule['alert']}"


def test_rule_expressions_use_only_exposed_metrics_and_defined_recordings() -> None:
    exposed = exposed_metric_names()
    recorded = recorded_names()
    unknown: dict[str, set[str]] = {}
    used_recordings: set[str] = set()
    for group in rule_groups():
        for rule in group["rules"]:
            metrics, recordings = names_in(rule["expr"])
            used_recordings |= recordings
            missing = {m for m in metrics if m not in exposed}
            missing |= {r for r in recordings if r not in recorded}
            if missing:
                unknown[rule.get("alert") or rule["record"]] = missing
    assert unknown == {}, (
        "rules use series that cloudtally.metrics does not expose (add them to metrics.py; "
        f"see docs/operations.md, 'Metrics'): {unknown}"
    )


def test_name_scanner_sees_suffixes_and_ignores_strings() -> None:
    metrics, recs = names_in(
        'sum(rate(cloudtally_insert_seconds_bucket{table="cloudtally_fake"}[5m]))'
        " / cloudtally:consumer_lag:sum_by_topic"
    )
    assert metrics == {"cloudtally_insert_seconds_bucket"}
    assert recs == {"cloudtally:consumer_lag:sum_by_topic"}
    exposed = exposed_metric_names()
    assert "cloudtally_insert_seconds_bucket" in exposed
    assert "cloudtally_dead_letters_total" in exposed
    assert "cloudtally_dead_letters" not in exposed  # a counter is only seen with _total
