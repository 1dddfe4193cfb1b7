"""The `cloudtally` command as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

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


def test_node_collector_serves_its_metrics(broker, settings, tmp_path) -> None:
    """A collector in cluster mode exposes /metrics for Prometheus (CLOUDTALLY_METRICS_PORT),
    to the scrape token only."""
    port = free_port()
    (tmp_path / "scrape.token").write_text("s3cret-scrape\n")
    env = {
        **os.environ,
        **settings().as_env(),
        "CLOUDTALLY_METRICS_PORT": str(port),
        "CLOUDTALLY_METRICS_TOKEN_FILE": str(tmp_path / "scrape.token"),
    }
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
                url = f"http://127.0.0.1:{port}/metrics"
                req = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret-scrape"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            m = re.search(r'^cloudtally_samples_produced_total\{source="node"\} (\S+)$', text, re.M)
            produced = float(m.group(1)) if m else 0.0
        assert produced >= 2, "the node collector's /metrics never showed produced samples"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
        assert refused.value.code == 401
    finally:
        proc.terminate()
        proc.wait(10)
