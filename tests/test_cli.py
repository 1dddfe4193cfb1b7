"""The `cloudtally` command as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

from cloudtally.devtools.clickhouse_server import free_port


def test_help_lists_every_process_and_task() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cloudtally.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in (
        "up",
        "broker",
        "worker",
        "api",
        "simulate",
        "node",
        "migrate",
        "billing",
        "invoices",
    ):
        assert re.search(rf"\b{command}\b", out), command


def test_node_collector_serves_its_metrics(broker, settings) -> None:
    """A collector in cluster mode exposes /metrics for Prometheus (CLOUDTALLY_METRICS_PORT)."""
    port = free_port()
    env = {**os.environ, **settings().as_env(), "CLOUDTALLY_METRICS_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudtally.cli", "node", "--interval", "0.3", "--count", "40"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, produced = time.monotonic() + 30, 0.0
        while time.monotonic() < deadline and produced < 2:
            time.sleep(0.3)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            m = re.search(r'^cloudtally_samples_produced_total\{source="node"\} (\S+)$', text, re.M)
            produced = float(m.group(1)) if m else 0.0
        assert produced >= 2, "the node collector's /metrics never showed produced samples"
    finally:
        proc.terminate()
        proc.wait(10)
