"""Write alerts_test.yml, the `promtool test rules` unit tests, from a compact spec.

Why generated: promtool compares annotations exactly, so every firing case must
repeat each alert's description and runbook link. The spec below states what
matters by hand (inputs, when an alert fires, its labels and the rendered
summary with its value); the generator copies the static parts from alerts.yml
and substitutes ``{{ $labels.x }}`` in descriptions (descriptions never use
``$value``, so that substitution is all there is to render).

    python deploy/prometheus/tests/generate.py          # rewrite alerts_test.yml
    python deploy/prometheus/tests/generate.py --check  # exit 1 if out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE.parent / "rules"
OUT = HERE / "alerts_test.yml"


def s(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def fire(labels: dict[str, str], summary: str) -> dict[str, Any]:
    return {"labels": labels, "summary": summary}


W = {"job": "cloudtally-worker", "instance": "w1:9108"}
W2 = {"job": "cloudtally-worker", "instance": "w2:9108"}

# Each case: interval, input series, and checks (eval_time, alertname, [expected firing]).
CASES: list[dict[str, Any]] = [
    {
        "name": "a down cloudtally target fires; other jobs and healthy targets do not",
        "interval": "1m",
        "series": [
            s("up", W, "1 1 0 0 0 0 0 0"),
            s("up", {"job": "cloudtally-api", "instance": "a1:8000"}, "1x8"),
            s("up", {"job": "node", "instance": "n1:9100"}, "0x8"),
        ],
        "checks": [
            ("1m", "CloudtallyTargetDown", []),
            ("3m", "CloudtallyTargetDown", []),  # down for 1 minute: pending
            ("5m", "CloudtallyTargetDown", [fire(W, "cloudtally-worker target w1:9108 is down")]),
            ("1m", "CloudtallyNoWorkers", []),
            ("5m", "CloudtallyNoWorkers", [fire({}, "No cloudtally worker is up")]),
        ],
    },
    {
        "name": "one of two workers down is not 'no workers'",
        "interval": "1m",
        "series": [
            s("up", W, "0x8"),
            s("up", {"job": "cloudtally-worker", "instance": "w2:9108"}, "1x8"),
        ],
        "checks": [("6m", "CloudtallyNoWorkers", [])],
    },
    {
        "name": "no flush while the topic has a backlog fires; an idle topic does not",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_last_flush_timestamp_seconds",
                {**W, "topic": "samples"},
                "0+60x5 300x25",
            ),
            s(
                "cloudtally_consumer_highwater",
                {**W, "topic": "samples", "partition": "0"},
                "100+10x30",
            ),
            s(
                "cloudtally_consumer_committed_offset",
                {**W, "topic": "samples", "partition": "0"},
                "99+10x5 149x25",
            ),
            s(
                "cloudtally_last_flush_timestamp_seconds",
                {**W, "topic": "inventory"},
                "0+60x5 300x25",
            ),
            s(
                "cloudtally_consumer_highwater",
                {**W, "topic": "inventory", "partition": "0"},
                "50x30",
            ),
            s(
                "cloudtally_consumer_committed_offset",
                {**W, "topic": "inventory", "partition": "0"},
                "49x30",
            ),
        ],
        "checks": [
            ("8m", "CloudtallyNoFlush", []),
            (
                "16m",
                "CloudtallyNoFlush",
                [
                    fire(
                        {"topic": "samples"},
                        "No flush to the store for topic samples for 11m 0s while messages wait",
                    ),
                ],
            ),
        ],
    },
    {
        "name": "collectors produce, nothing is ingested",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_samples_produced_total",
                {"job": "cloudtally-collector", "instance": "c1:9108", "source": "simulator"},
                "0+600x30",
            ),
            s("cloudtally_samples_ingested_total", {**W, "table": "samples"}, "0+600x5 3000x25"),
        ],
        "checks": [
            ("12m", "CloudtallyIngestStalled", []),
            (
                "22m",
                "CloudtallyIngestStalled",
                [
                    fire({}, "Collectors produce 10 samples/s but none reach the store"),
                ],
            ),
        ],
    },
    {
        "name": "collectors produce and no worker ever wrote a sample (metric absent)",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_samples_produced_total",
                {"job": "cloudtally-collector", "instance": "c1:9108", "source": "simulator"},
                "0+600x30",
            ),
        ],
        "checks": [
            ("5m", "CloudtallyIngestStalled", []),
            (
                "15m",
                "CloudtallyIngestStalled",
                [
                    fire({}, "Collectors produce 10 samples/s but none reach the store"),
                ],
            ),
        ],
    },
    {
        "name": "ingest keeping up does not fire",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_samples_produced_total",
                {"job": "cloudtally-collector", "instance": "c1:9108", "source": "simulator"},
                "0+600x30",
            ),
            s("cloudtally_samples_ingested_total", {**W, "table": "samples"}, "0+600x30"),
        ],
        "checks": [("22m", "CloudtallyIngestStalled", [])],
    },
    {
        "name": "a burst of dead letters fires while it is in the 10-minute window",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_dead_letters_total",
                {**W, "topic": "samples", "section": "samples", "reason": "schema"},
                "0 0 0 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5",
            ),
        ],
        "checks": [
            ("2m", "CloudtallyDeadLettersRising", []),
            (
                "4m",
                "CloudtallyDeadLettersRising",
                [
                    fire(
                        {"topic": "samples", "reason": "schema"},
                        "Rejected input on samples: schema",
                    ),
                ],
            ),
            ("15m", "CloudtallyDeadLettersRising", []),
        ],
    },
    {
        "name": "a batch held for the store past 2 minutes fires; a short blip does not",
        "interval": "1m",
        "series": [
            s("cloudtally_store_held_seconds", {**W, "stage": "samples"}, "0 0 60+60x8 0x5"),
            s("cloudtally_store_held_seconds", {**W2, "stage": "samples"}, "0 45 0x12"),
        ],
        "checks": [
            ("3m", "CloudtallyStoreUnavailable", []),
            (
                "6m",
                "CloudtallyStoreUnavailable",
                [
                    fire(
                        {"instance": "w1:9108", "stage": "samples"},
                        "Worker w1:9108 has held a samples batch for 5m 0s: "
                        "the store cannot be written",
                    ),
                ],
            ),
            ("13m", "CloudtallyStoreUnavailable", []),
        ],
    },
    {
        "name": "orphans older than the grace period fire; young orphans do not",
        "interval": "1m",
        "series": [
            s("cloudtally_orphan_oldest_age_seconds", W, "0 600+600x20"),
            s("cloudtally_orphan_vms", W, "0 3x20"),
        ],
        "checks": [
            ("6m", "CloudtallyOrphanSamples", []),
            ("12m", "CloudtallyOrphanSamples", []),  # past the grace, pending for 10m
            (
                "18m",
                "CloudtallyOrphanSamples",
                [fire({}, "3 VM ids have samples but no inventory, the oldest for 3h 0m 0s")],
            ),
        ],
    },
    {
        "name": "2 % of rows rejected fires the ratio alert",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_dead_letters_total",
                {**W, "topic": "samples", "section": "samples", "reason": "range"},
                "0+2x30",
            ),
            s("cloudtally_samples_ingested_total", {**W, "table": "samples"}, "0+98x30"),
        ],
        "checks": [
            ("5m", "CloudtallyDeadLetterRatioHigh", []),
            ("15m", "CloudtallyDeadLetterRatioHigh", [fire({}, "2% of input is rejected")]),
        ],
    },
    {
        "name": "0.5 % of rows rejected does not fire the ratio alert",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_dead_letters_total",
                {**W, "topic": "samples", "section": "samples", "reason": "range"},
                "0+1x30",
            ),
            s("cloudtally_samples_ingested_total", {**W, "table": "samples"}, "0+199x30"),
        ],
        "checks": [("15m", "CloudtallyDeadLetterRatioHigh", [])],
    },
    {
        "name": "store errors: warning at once, critical when they last 15 minutes",
        "interval": "1m",
        "series": [
            s("cloudtally_ingest_errors_total", {**W, "stage": "insert"}, "0+1x30"),
            s("cloudtally_ingest_errors_total", {**W, "stage": "flush"}, "0x30"),
        ],
        "checks": [
            (
                "10m",
                "CloudtallyInsertErrors",
                [
                    fire({"stage": "insert"}, "5 store write errors at stage insert in 5 minutes"),
                ],
            ),
            ("10m", "CloudtallyInsertErrorsPersistent", []),
            (
                "17m",
                "CloudtallyInsertErrorsPersistent",
                [
                    fire(
                        {"stage": "insert"}, "Store writes failing for 15 minutes at stage insert"
                    ),
                ],
            ),
        ],
    },
    {
        "name": "a counter of store errors that does not move is quiet",
        "interval": "1m",
        "series": [s("cloudtally_ingest_errors_total", {**W, "stage": "insert"}, "3x30")],
        "checks": [
            ("10m", "CloudtallyInsertErrors", []),
            ("20m", "CloudtallyInsertErrorsPersistent", []),
        ],
    },
    {
        "name": "lag above 10k and growing fires; caught-up and shrinking lags do not",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_consumer_highwater",
                {**W, "topic": "samples", "partition": "0"},
                "1000+2000x40",
            ),
            s(
                "cloudtally_consumer_committed_offset",
                {**W, "topic": "samples", "partition": "0"},
                "999+1000x40",
            ),
            # the previous owner of the partition still exports a stale, lower offset
            s(
                "cloudtally_consumer_committed_offset",
                {
                    "job": "cloudtally-worker",
                    "instance": "w0:9108",
                    "topic": "samples",
                    "partition": "0",
                },
                "500x40",
            ),
            s(
                "cloudtally_consumer_highwater",
                {**W, "topic": "inventory", "partition": "0"},
                "50000x40",
            ),
            s(
                "cloudtally_consumer_committed_offset",
                {**W, "topic": "inventory", "partition": "0"},
                "49999x40",
            ),
            s(
                "cloudtally_consumer_highwater",
                {**W, "topic": "backfill", "partition": "0"},
                "100000x40",
            ),
            s(
                "cloudtally_consumer_committed_offset",
                {**W, "topic": "backfill", "partition": "0"},
                "0+2000x40",
            ),
        ],
        "checks": [
            ("20m", "CloudtallyConsumerLagGrowing", []),
            # between two steps of the input, so the recorded lag (another rule group,
            # evaluated concurrently) is the same whichever group runs first
            (
                "30m30s",
                "CloudtallyConsumerLagGrowing",
                [
                    fire({"topic": "samples"}, "Consumer lag on samples is 30k and growing"),
                ],
            ),
        ],
    },
    {
        "name": "slow inserts into one table fire; fast ones do not",
        "interval": "1m",
        "series": [
            s("cloudtally_insert_seconds_bucket", {**W, "table": "samples", "le": "5"}, "0x30"),
            s("cloudtally_insert_seconds_bucket", {**W, "table": "samples", "le": "10"}, "0+10x30"),
            s(
                "cloudtally_insert_seconds_bucket",
                {**W, "table": "samples", "le": "+Inf"},
                "0+10x30",
            ),
            s(
                "cloudtally_insert_seconds_bucket",
                {**W, "table": "usage_hourly", "le": "0.1"},
                "0+10x30",
            ),
            s(
                "cloudtally_insert_seconds_bucket",
                {**W, "table": "usage_hourly", "le": "5"},
                "0+10x30",
            ),
            s(
                "cloudtally_insert_seconds_bucket",
                {**W, "table": "usage_hourly", "le": "+Inf"},
                "0+10x30",
            ),
        ],
        "checks": [
            ("8m", "CloudtallyInsertLatencyHigh", []),
            (
                "20m",
                "CloudtallyInsertLatencyHigh",
                [
                    fire({"table": "samples"}, "p95 insert latency into samples is 9.75s"),
                ],
            ),
        ],
    },
    {
        "name": "a derivation task that stopped succeeding fires after 2 hours, on no worker",
        "interval": "5m",
        "series": [
            # rating moved to a new leader (w2); the former leader's series stays old
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W, "task": "rating"},
                "0x40",
            ),
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W2, "task": "rating"},
                "0+300x40",
            ),
            # the alerts pass stopped succeeding everywhere
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W2, "task": "alerts"},
                "0x40",
            ),
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W2, "task": "kpi"},
                "0+300x40",
            ),
        ],
        "checks": [
            ("1h", "CloudtallyAnalyticsStale", []),
            (
                "2h15m",
                "CloudtallyAnalyticsStale",
                [fire({"task": "alerts"}, "Analytics task alerts last succeeded 2h 15m 0s ago")],
            ),
        ],
    },
    {
        "name": "a stale rollup fires while samples are written",
        "interval": "5m",
        "series": [
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W, "task": "rollup"},
                "0x40",
            ),
            s("cloudtally_samples_ingested_total", {**W, "table": "samples"}, "0+6000x40"),
        ],
        "checks": [
            ("1h", "CloudtallyAnalyticsStale", []),
            (
                "2h15m",
                "CloudtallyAnalyticsStale",
                [fire({"task": "rollup"}, "Analytics task rollup last succeeded 2h 15m 0s ago")],
            ),
        ],
    },
    {
        "name": "a rollup with nothing to roll up (no samples written) is not stale",
        "interval": "5m",
        "series": [
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W, "task": "rollup"},
                "0x40",
            ),
            s("cloudtally_samples_ingested_total", {**W, "table": "samples"}, "5000x40"),
        ],
        "checks": [("2h15m", "CloudtallyAnalyticsStale", [])],
    },
    {
        "name": "workers up but no rating or alerts pass ever succeeded fires after 30 minutes",
        "interval": "5m",
        "series": [
            s("up", W, "1x12"),
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W, "task": "rating"},
                "0+300x12",
            ),
        ],
        "checks": [
            ("20m", "CloudtallyDerivationNotRunning", []),
            (
                "40m",
                "CloudtallyDerivationNotRunning",
                [
                    fire(
                        {"task": "alerts"}, "No worker has completed the alerts pass for 30 minutes"
                    )
                ],
            ),
        ],
    },
    {
        "name": "derivation is not 'not running' when both passes report",
        "interval": "5m",
        "series": [
            s("up", W, "1x12"),
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W, "task": "rating"},
                "0+300x12",
            ),
            s(
                "cloudtally_analytics_last_success_timestamp_seconds",
                {**W, "task": "alerts"},
                "0+300x12",
            ),
        ],
        "checks": [("40m", "CloudtallyDerivationNotRunning", [])],
    },
    {
        "name": "hours of a year without an official calendar fire after an hour; 0 is quiet",
        "interval": "5m",
        "series": [
            s("cloudtally_calendar_provisional_hours", {**W, "year": "2027"}, "0x2 24x20"),
            s("cloudtally_calendar_provisional_hours", {**W2, "year": "2027"}, "0x2 24x20"),
            s("cloudtally_calendar_provisional_hours", {**W, "year": "2026"}, "0x22"),
        ],
        "checks": [
            ("40m", "CloudtallyCalendarYearMissing", []),  # pending for less than 1h
            (
                "80m",
                "CloudtallyCalendarYearMissing",
                [
                    fire(
                        {"year": "2027"},
                        "24 hours of 2027 have no official working-day calendar",
                    )
                ],
            ),
        ],
    },
    {
        "name": "no worker up is CloudtallyNoWorkers' business, not 'derivation not running'",
        "interval": "5m",
        "series": [s("up", W, "0x12")],
        "checks": [("40m", "CloudtallyDerivationNotRunning", [])],
    },
    {
        "name": "idle and rightsizing candidates are summed per pool; empty pools stay quiet",
        "interval": "5m",
        "series": [
            s(
                "cloudtally_idle_candidates",
                {**W, "provider": "p1", "pool": "pool-1", "bureau": "b1", "kind": "vm"},
                "3x30",
            ),
            s(
                "cloudtally_idle_candidates",
                {**W, "provider": "p1", "pool": "pool-1", "bureau": "b2", "kind": "vm"},
                "2x30",
            ),
            s(
                "cloudtally_idle_candidates",
                {**W, "provider": "p1", "pool": "pool-2", "bureau": "b1", "kind": "vm"},
                "0x30",
            ),
            s(
                "cloudtally_idle_candidates",
                {
                    **W,
                    "provider": "p1",
                    "pool": "pool-1",
                    "bureau": "b1",
                    "kind": "storage_partition",
                },
                "4x30",
            ),
            s(
                "cloudtally_rightsizing_candidates",
                {**W, "provider": "p1", "pool": "pool-1", "bureau": "b1"},
                "7x30",
            ),
            s(
                "cloudtally_rightsizing_candidates",
                {**W, "provider": "p1", "pool": "pool-2", "bureau": "b1"},
                "0x30",
            ),
            s(
                "cloudtally_rightsizing_savings_cny_per_year",
                {**W, "provider": "p1", "pool": "pool-1"},
                "800000x30",
            ),
            s(
                "cloudtally_rightsizing_savings_cny_per_year",
                {**W, "provider": "p1", "pool": "pool-2"},
                "300000x30",
            ),
            s(
                "cloudtally_rightsizing_savings_cny_per_year",
                {**W, "provider": "p2", "pool": "pool-1"},
                "999999x30",
            ),
        ],
        "checks": [
            ("20m", "CloudtallyIdleVMs", []),  # pending: for 30m
            ("20m", "CloudtallyIdleStoragePartitions", []),
            ("20m", "CloudtallyRightsizingCandidates", []),
            (
                "40m",
                "CloudtallyIdleVMs",
                [
                    fire(
                        {"provider": "p1", "pool": "pool-1"}, "5 idle VMs to reclaim in p1/pool-1"
                    ),
                ],
            ),
            (
                "40m",
                "CloudtallyIdleStoragePartitions",
                [
                    fire(
                        {"provider": "p1", "pool": "pool-1"},
                        "4 idle storage partitions in p1/pool-1",
                    ),
                ],
            ),
            (
                "40m",
                "CloudtallyRightsizingCandidates",
                [
                    fire({"provider": "p1", "pool": "pool-1"}, "7 VMs to downsize in p1/pool-1"),
                ],
            ),
            ("40m", "CloudtallyRightsizingSavingsHigh", []),
            (
                "70m",
                "CloudtallyRightsizingSavingsHigh",
                [
                    fire({"provider": "p1"}, "Rightsizing p1 would save 1.1M CNY/year"),
                ],
            ),
        ],
    },
    {
        "name": "pool utilization bands: < 60 % scores 0, 60-65 % scores 1, >= 65 % is quiet",
        "interval": "2m",
        "series": [
            s(
                "cloudtally_pool_utilization_ratio",
                {**W, "provider": "p1", "pool": "pool-1", "resource": "overall"},
                "0.586x250",
            ),
            s(
                "cloudtally_pool_utilization_ratio",
                {**W, "provider": "p1", "pool": "pool-1", "resource": "cpu"},
                "0.474x250",
            ),
            s(
                "cloudtally_pool_utilization_ratio",
                {**W, "provider": "p1", "pool": "pool-2", "resource": "overall"},
                "0.62x250",
            ),
            s(
                "cloudtally_pool_utilization_ratio",
                {**W, "provider": "p2", "pool": "pool-1", "resource": "overall"},
                "0.70x250",
            ),
            s(
                "cloudtally_pool_utilization_ratio",
                {**W, "provider": "p3", "pool": "pool-1", "resource": "overall"},
                "0.65x250",
            ),
            s(
                "cloudtally_pool_utilization_ratio",
                {**W, "provider": "p3", "pool": "pool-2", "resource": "overall"},
                "0.60x250",
            ),
        ],
        "checks": [
            ("5h", "CloudtallyPoolUtilizationBelow60", []),
            ("5h", "CloudtallyPoolUtilizationBelow65", []),
            (
                "6h30m",
                "CloudtallyPoolUtilizationBelow60",
                [
                    fire(
                        {**W, "provider": "p1", "pool": "pool-1", "resource": "overall"},
                        "Pool p1/pool-1 at 58.6%: 0 of 2 points",
                    ),
                ],
            ),
            (
                "6h30m",
                "CloudtallyPoolUtilizationBelow65",
                [
                    fire(
                        {**W, "provider": "p1", "pool": "pool-2", "resource": "overall"},
                        "Pool p1/pool-2 at 62%: 1 of 2 points",
                    ),
                    fire(
                        {**W, "provider": "p3", "pool": "pool-2", "resource": "overall"},
                        "Pool p3/pool-2 at 60%: 1 of 2 points",
                    ),
                ],
            ),
            ("6h30m", "CloudtallyPoolKPIMissing", []),
        ],
    },
    {
        "name": "no pool KPI at all is an alert (no evidence scores the lowest band)",
        "interval": "5m",
        "series": [s("up", W, "1x60")],
        "checks": [
            ("2h", "CloudtallyPoolKPIMissing", []),
            (
                "3h10m",
                "CloudtallyPoolKPIMissing",
                [fire({}, "No pool utilization KPI is exported")],
            ),
        ],
    },
    {
        "name": "a pool below its availability target fires after an hour; one at target does not",
        "interval": "5m",
        "series": [
            s(
                "cloudtally_pool_availability_ratio",
                {**W, "provider": "p1", "pool": "pool-1"},
                "0.9990x30",
            ),
            s(
                "cloudtally_pool_availability_ratio",
                {**W, "provider": "p1", "pool": "pool-2"},
                "0.9995x30",
            ),
            s(
                "cloudtally_pool_availability_target_ratio",
                {**W, "provider": "p1", "pool": "pool-1"},
                "0.9995x30",
            ),
            s(
                "cloudtally_pool_availability_target_ratio",
                {**W, "provider": "p1", "pool": "pool-2"},
                "0.9995x30",
            ),
        ],
        "checks": [
            ("30m", "CloudtallyPoolBelowAvailabilityTarget", []),
            (
                "1h10m",
                "CloudtallyPoolBelowAvailabilityTarget",
                [
                    fire(
                        {"provider": "p1", "pool": "pool-1"},
                        "Pool p1/pool-1 availability 99.9% this month is below target",
                    )
                ],
            ),
        ],
    },
    {
        "name": "spend over 90 % of budget fires",
        "interval": "5m",
        "series": [
            s("cloudtally_billing_fiscal_year_amount_cny", {**W, "provider": "p1"}, "5000000x20"),
            s("cloudtally_billing_fiscal_year_amount_cny", {**W, "provider": "p2"}, "4500000x20"),
            s("cloudtally_billing_budget_cny", {**W, "scope": "programme"}, "10000000x20"),
        ],
        "checks": [
            ("30m", "CloudtallySpendNearBudget", []),
            (
                "70m",
                "CloudtallySpendNearBudget",
                [
                    fire({}, "Fiscal-year spend is 9.5M CNY, over 90 % of budget"),
                ],
            ),
        ],
    },
    {
        "name": "spend under 90 % of budget is quiet",
        "interval": "5m",
        "series": [
            s("cloudtally_billing_fiscal_year_amount_cny", {**W, "provider": "p1"}, "5000000x20"),
            s("cloudtally_billing_budget_cny", {**W, "scope": "programme"}, "10000000x20"),
        ],
        "checks": [("70m", "CloudtallySpendNearBudget", [])],
    },
    {
        "name": "error findings fire per provider and rule; info findings and zeros do not",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_verification_findings",
                {**W, "provider": "p1", "rule": "price_mismatch", "severity": "error"},
                "2x10",
            ),
            s(
                "cloudtally_verification_findings",
                {**W, "provider": "p1", "rule": "rounding", "severity": "info"},
                "5x10",
            ),
            s(
                "cloudtally_verification_findings",
                {**W, "provider": "p2", "rule": "price_mismatch", "severity": "error"},
                "0x10",
            ),
        ],
        "checks": [
            (
                "2m",
                "CloudtallyInvoiceFindings",
                [
                    fire(
                        {"provider": "p1", "rule": "price_mismatch"},
                        "2 invoice findings from p1 (rule price_mismatch)",
                    ),
                ],
            ),
        ],
    },
    {
        "name": "only info findings and resolved (zero) error findings are quiet",
        "interval": "1m",
        "series": [
            s(
                "cloudtally_verification_findings",
                {**W, "provider": "p1", "rule": "rounding", "severity": "info"},
                "5x10",
            ),
            s(
                "cloudtally_verification_findings",
                {**W, "provider": "p2", "rule": "price_mismatch", "severity": "error"},
                "3 3 0x8",
            ),
        ],
        "checks": [
            (
                "1m",
                "CloudtallyInvoiceFindings",
                [
                    fire(
                        {"provider": "p2", "rule": "price_mismatch"},
                        "3 invoice findings from p2 (rule price_mismatch)",
                    ),
                ],
            ),
            ("5m", "CloudtallyInvoiceFindings", []),
        ],
    },
    {
        "name": "a ledger mismatch fires at once and clears when verification is clean",
        "interval": "1m",
        "series": [
            s("cloudtally_audit_problems", W, "0 0 2 2 0 0"),
            s("cloudtally_audit_last_verify_timestamp_seconds", W, "0+60x6"),
        ],
        "checks": [
            ("1m", "CloudtallyLedgerMismatch", []),
            (
                "2m",
                "CloudtallyLedgerMismatch",
                [fire({}, "Audit ledger verification found 2 problem(s)")],
            ),
            ("5m", "CloudtallyLedgerMismatch", []),
            ("5m", "CloudtallyLedgerNotVerified", []),
        ],
    },
    {
        "name": "a ledger not verified for three hours warns after 30 minutes",
        "interval": "1m",
        "series": [s("cloudtally_audit_last_verify_timestamp_seconds", W, "0x300")],
        "checks": [
            ("3h", "CloudtallyLedgerNotVerified", []),
            (
                "4h",
                "CloudtallyLedgerNotVerified",
                [fire({}, "The audit ledger has not been verified for 4h 0m 0s")],
            ),
        ],
    },
    {
        "name": "a collector source stops completing windows; a live one stays quiet",
        "interval": "1m",
        "series": [
            # last success at t=0 and never again; the other source succeeds every minute
            s(
                "cloudtally_collector_last_success_timestamp_seconds",
                {"job": "cloudtally-collector", "instance": "c1:9108", "source": "prometheus:dc1"},
                "0x30",
            ),
            s(
                "cloudtally_collector_last_success_timestamp_seconds",
                {"job": "cloudtally-collector", "instance": "c2:9108", "source": "scrape:site1"},
                "0+60x30",
            ),
        ],
        "checks": [
            ("15m", "CloudtallyCollectorSilent", []),  # 15 minutes silent: not yet over
            ("19m", "CloudtallyCollectorSilent", []),  # over for 3 minutes: pending
            (
                "22m",
                "CloudtallyCollectorSilent",
                [
                    fire(
                        {"source": "prometheus:dc1"},
                        "Collector source prometheus:dc1 has sent nothing for 22m 0s",
                    ),
                ],
            ),
        ],
    },
    {
        "name": "a store replica down for 2 minutes fires; one that answers again does not",
        "interval": "1m",
        "series": [
            s("cloudtally_store_replica_up", {**W, "replica": "ch-1:9000"}, "1 1 0 0 0 0 0 0"),
            s("cloudtally_store_replica_up", {**W2, "replica": "ch-1:9000"}, "1 1 0 0 0 0 0 0"),
            s("cloudtally_store_replica_up", {**W, "replica": "ch-2:9000"}, "1 0 1 1 1 1 1 1"),
        ],
        "checks": [
            ("3m", "CloudtallyStoreReplicaDown", []),
            (
                "6m",
                "CloudtallyStoreReplicaDown",
                [fire({"replica": "ch-1:9000"}, "Store replica ch-1:9000 does not answer")],
            ),
        ],
    },
    {
        "name": "an embedded broker part down or wedged for 3 minutes fires; a restart does not",
        "interval": "1m",
        "series": [
            s("cloudtally_broker_up", {**W, "component": "broker"}, "1 0 0 0 0 0 0 0"),
            s("cloudtally_broker_up", {**W, "component": "s3rver"}, "1 0 1 1 1 1 1 1"),
        ],
        "checks": [
            ("3m", "CloudtallyEmbeddedBrokerDown", []),
            (
                "6m",
                "CloudtallyEmbeddedBrokerDown",
                [
                    fire(
                        {"component": "broker"},
                        "Embedded broker part broker has been down or not serving fetches "
                        "for 3 minutes",
                    )
                ],
            ),
        ],
    },
    {
        "name": "read-only tables for 2 minutes fire; a brief read-only spell does not",
        "interval": "1m",
        "series": [
            s("cloudtally_store_replica_readonly_tables", {**W, "replica": "ch-1:9000"}, "0 28x7"),
            s(
                "cloudtally_store_replica_readonly_tables",
                {**W, "replica": "ch-2:9000"},
                "0 28 0x6",
            ),
        ],
        "checks": [
            ("2m", "CloudtallyStoreReplicaReadOnly", []),
            (
                "5m",
                "CloudtallyStoreReplicaReadOnly",
                [
                    fire(
                        {"replica": "ch-1:9000"},
                        "28 read-only tables on store replica ch-1:9000",
                    )
                ],
            ),
        ],
    },
]


def load_alerts() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((RULES / "alerts.yml").read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def render_labels(template: str, labels: dict[str, str]) -> str:
    if "$value" in template:
        raise ValueError(f"descriptions must not use $value (not rendered here): {template!r}")

    def sub(m: re.Match[str]) -> str:
        return labels[m.group(1)]

    out = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", sub, template)
    if "{{" in out:
        raise ValueError(f"unsupported template in {template!r}")
    return out


_EXPR = re.compile(r"\{\{.*?\}\}(?:.*?\{\{\s*end\s*\}\})?")


def render_like(template: str, rendered: str, other: str) -> str:
    """``other`` (the same alert's summary in another language, with the same template
    expressions) rendered with the values that ``template`` shows in ``rendered``."""
    exprs = _EXPR.findall(template)
    pattern = "".join(
        re.escape(part) + ("(.+?)" if i < len(exprs) else "")
        for i, part in enumerate(_EXPR.split(template))
    )
    m = re.fullmatch(pattern, rendered)
    if m is None:
        raise ValueError(f"{rendered!r} is not a rendering of {template!r}")
    values = dict(zip(exprs, m.groups(), strict=True))
    out = _EXPR.sub(lambda x: values[x.group(0)], other)
    if "{{" in out:
        raise ValueError(f"{other!r} uses an expression its English text does not")
    return out


def build() -> str:
    alerts = load_alerts()
    tests = []
    for case in CASES:
        checks = []
        for eval_time, name, expected in case["checks"]:
            rule = alerts[name]
            exp = []
            for e in expected:
                labels = {**e["labels"], **rule["labels"]}
                a = rule["annotations"]
                ann = {
                    "summary": e["summary"],
                    "description": render_labels(a["description"], labels),
                    "runbook_url": a["runbook_url"],
                }
                if "summary_zh" in a:  # the same values, rendered into the Chinese template
                    ann["summary_zh"] = render_like(a["summary"], e["summary"], a["summary_zh"])
                if "description_zh" in a:
                    ann["description_zh"] = render_labels(a["description_zh"], labels)
                exp.append({"exp_labels": labels, "exp_annotations": ann})
            checks.append({"eval_time": eval_time, "alertname": name, "exp_alerts": exp})
        tests.append(
            {
                "name": case["name"],
                "interval": case["interval"],
                "input_series": case["series"],
                "alert_rule_test": checks,
            }
        )
    doc = {
        "rule_files": ["../rules/recording.yml", "../rules/alerts.yml"],
        "evaluation_interval": "30s",
        "tests": tests,
    }
    head = "# GENERATED by deploy/prometheus/tests/generate.py from its CASES; do not edit.\n"
    return head + yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)


def main() -> int:
    text = build()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
