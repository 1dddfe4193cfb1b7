"""The real Prometheus (Debian) scrapes a real API and a real worker, with our rules loaded.

Cluster-mode processes: `cloudtally api` and `cloudtally worker` against the
session's ClickHouse 18.16 server and Tansu broker; Prometheus gets the
project's rule files and a scrape config with the same job names as
deploy/prometheus/prometheus.yml, pointed at the processes' ports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops._promql import PROM_DIR, tool

pytestmark = [pytest.mark.server, pytest.mark.broker]


def _free_port() -> int:
    from cloudtally.devtools.clickhouse_server import free_port

    return free_port()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture
def services(clickhouse_server: Any, broker: str, tmp_path: Path, test_id: str) -> Iterator[dict]:
    from cloudtally.store import open_store
    from cloudtally.store.migrate import migrate

    database = f"scrape_{test_id}"
    url = f"{clickhouse_server.url}/{database}"
    with open_store(url, database) as store:
        migrate(store)
    api_port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "CLOUDTALLY_MODE": "cluster",
        "CLOUDTALLY_STORE_URL": url,
        "CLOUDTALLY_DATABASE": database,
        "CLOUDTALLY_KAFKA_BOOTSTRAP": broker,
        "CLOUDTALLY_TOPIC_SAMPLES": f"samples-{test_id}",
        "CLOUDTALLY_TOPIC_INVENTORY": f"inventory-{test_id}",
        "CLOUDTALLY_TOPIC_DEAD_LETTER": f"dead-letter-{test_id}",
        "CLOUDTALLY_TOPIC_ALERTS": f"alerts-{test_id}",
        "CLOUDTALLY_CONSUMER_GROUP": f"scrape-{test_id}",
        "CLOUDTALLY_API_HOST": "127.0.0.1",
        "CLOUDTALLY_API_PORT": str(api_port),
        "CLOUDTALLY_METRICS_PORT": str(metrics_port),
        "CLOUDTALLY_WORKER_WEB_PORT": str(_free_port()),
        "CLOUDTALLY_DATA_DIR": str(tmp_path / "data"),
        "CLOUDTALLY_METRICS_TOKEN_FILE": str(tmp_path / "scrape.token"),
    }
    (tmp_path / "scrape.token").write_text("scrape-token-for-prometheus\n")
    cli = [sys.executable, "-m", "cloudtally.cli"]
    procs = [
        subprocess.Popen(
            [*cli, "api"],
            env=env,
            cwd=tmp_path,
            stdout=(tmp_path / "api.log").open("w"),
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [*cli, "worker"],
            env=env,
            cwd=tmp_path,
            stdout=(tmp_path / "worker.log").open("w"),
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        yield {
            "api": api_port,
            "worker": metrics_port,
            "logs": tmp_path,
            "token_file": tmp_path / "scrape.token",
            "broker": broker,
            "topic": f"samples-{test_id}",
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        with open_store(clickhouse_server.url, "default") as s:
            s.execute(f"DROP DATABASE IF EXISTS {database}")


def test_prometheus_scrapes_api_and_worker_and_sees_the_metrics(
    services: dict, tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus") or tool("prometheus")
    port = _free_port()
    token = services["token_file"]
    rules = tmp_path / "rules"
    shutil.copytree(PROM_DIR / "rules", rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules/recording.yml", "rules/alerts.yml"],
        "scrape_configs": [
            {
                "job_name": "cloudtally-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{services['worker']}"]}],
                # as deploy/prometheus/prometheus.yml: the scrape token from a file
                "authorization": {"type": "Bearer", "credentials_file": str(token)},
            },
            {
                "job_name": "cloudtally-api",
                "static_configs": [{"targets": [f"127.0.0.1:{services['api']}"]}],
                "authorization": {"type": "Bearer", "credentials_file": str(token)},
            },
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            prometheus,
            "--config.file=prometheus.yml",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        stdout=(tmp_path / "prometheus.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:

        def all_up() -> dict[str, str] | None:
            active = _get(f"{base}/targets")["data"]["activeTargets"]
            health = {t["labels"]["job"]: t["health"] for t in active}
            return health if health and set(health.values()) == {"up"} else None

        try:
            health = _wait(all_up, 90, "both targets up")
        except AssertionError:
            logs = {
                n: (services["logs"] / f"{n}.log").read_text()[-2000:] for n in ("api", "worker")
            }
            raise AssertionError(f"targets not up; logs: {logs}") from None
        assert health == {"cloudtally-worker": "up", "cloudtally-api": "up"}

        def series(metric: str) -> list[dict]:
            return _get(f"{base}/series?match[]={metric}")["data"]

        # Metrics from cloudtally.metrics appear on both targets' scrapes.
        for job in ("cloudtally-worker", "cloudtally-api"):
            names = _wait(
                lambda job=job: {
                    s["__name__"]
                    for s in _get(
                        f'{base}/series?match[]={{job="{job}",__name__=~"cloudtally_.*|python_.*"}}'
                    )["data"]
                },
                30,
                f"series of {job}",
            )
            assert any(n.startswith("python_") for n in names)
        # One real batch through Kafka: the worker's ingest metrics and the recording
        # rules built on them appear in Prometheus.
        from kafka import KafkaProducer

        from cloudtally.core.samples import encode_batch

        now = int(time.time()) // 60 * 60 - 600
        producer = KafkaProducer(bootstrap_servers=services["broker"])
        producer.send(
            services["topic"],
            key=b"vm-1",
            value=encode_batch(
                "pytest", ["vm-1"] * 5, [now + 60 * i for i in range(5)], [10.0] * 5, [20.0] * 5
            ),
        )
        producer.flush(10)
        producer.close()
        for metric in (
            "cloudtally_samples_ingested_total",
            "cloudtally_last_flush_timestamp_seconds",
            "cloudtally_insert_seconds_bucket",
            "cloudtally_consumer_highwater",
            "cloudtally:samples_ingested:rate1m",
        ):
            _wait(lambda metric=metric: series(metric), 60, metric)
        ingested = _get(
            f'{base}/query?query=sum(cloudtally_samples_ingested_total{{table="samples"}})'
        )
        assert float(ingested["data"]["result"][0]["value"][1]) == 5
        rules_state = _get(f"{base}/rules")["data"]["groups"]
        assert {g["name"] for g in rules_state} >= {"cloudtally-ingest", "cloudtally-pipeline"}
        assert all(r["health"] != "err" for g in rules_state for r in g["rules"])
        assert series("up")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
