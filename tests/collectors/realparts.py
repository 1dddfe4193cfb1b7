"""Real Prometheus and node_exporter (Debian packages) on loopback, and a Kafka drain.

``drain`` is the worker's ingest path without Faust: it reads the test's topics
from the real broker and hands each batch to the real ``IngestSink``, so
heartbeats are stored after the samples before them, as in the worker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, TopicPartition

from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.store import Store
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.conftest import unavailable

NODE_EXPORTER = "prometheus-node-exporter"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} missing: run deploy/local/install-system-deps.sh")
    assert path is not None
    return path


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer: {last}")


class Proc:
    """A server process on loopback, stopped (and reaped) on exit."""

    def __init__(self, args: list[str], log: Path, ready_url: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT)
        try:
            wait_http(ready_url)
        except AssertionError:
            self.stop()
            raise AssertionError(f"{args[0]} did not start:\n{log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_node_exporter(tmp: Path) -> tuple[Proc, int]:
    port = free_port()
    args = [
        binary(NODE_EXPORTER),
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.meminfo",
        "--collector.filesystem",
    ]
    return Proc(args, tmp / "node_exporter.log", f"http://127.0.0.1:{port}/metrics"), port


def start_prometheus(
    tmp: Path, targets: list[str], *, scrape_interval: str = "1s", tsdb: Path | None = None
) -> tuple[Proc, str]:
    port = free_port()
    cfg: dict[str, Any] = {"global": {"scrape_interval": scrape_interval}, "scrape_configs": []}
    if targets:
        cfg["scrape_configs"].append({"job_name": "node", "static_configs": [{"targets": targets}]})
    conf = tmp / "prometheus.yml"
    conf.write_text(yaml.safe_dump(cfg))
    data = tsdb or tmp / "prom-data"
    args = [
        binary("prometheus"),
        f"--config.file={conf}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=100y",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    return Proc(args, tmp / "prometheus.log", f"{url}/-/ready"), url


def promql(server: str, query: str, at: int) -> dict[str, float]:
    """Instant query: value per label set (JSON-encoded labels)."""
    qs = urllib.parse.urlencode({"query": query, "time": str(at)})
    with urllib.request.urlopen(f"{server}/api/v1/query?{qs}", timeout=30) as r:
        doc = json.loads(r.read())
    assert doc["status"] == "success", doc
    return {
        json.dumps(item["metric"], sort_keys=True): float(item["value"][1])
        for item in doc["data"]["result"]
    }


class Drain:
    """Consume a topic (all partitions, from the start) into the sink: samples or inventory."""

    def __init__(
        self, bootstrap: str, topic: str, store: Store, *, inventory: bool = False
    ) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            consumer_timeout_ms=500,
        )
        deadline = time.monotonic() + 20
        parts = None
        while not parts and time.monotonic() < deadline:
            parts = self.consumer.partitions_for_topic(topic)
            if not parts:
                time.sleep(0.2)
        assert parts, f"topic {topic} has no partitions"
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.sink = IngestSink(store, consumer="collectors-test")
        self.write = self.sink.write_inventory if inventory else self.sink.write_samples
        self.messages = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def once(self) -> int:
        got = self.consumer.poll(timeout_ms=300, max_records=500)
        msgs = [
            RawMessage(r.topic, r.partition, r.offset, r.value)
            for recs in got.values()
            for r in recs
        ]
        if msgs:
            self.write(msgs)
            self.messages += len(msgs)
        return len(msgs)

    def until_idle(self, idle_polls: int = 3) -> int:
        quiet = 0
        while quiet < idle_polls:
            quiet = 0 if self.once() else quiet + 1
        return self.messages

    def start(self) -> None:
        def loop() -> None:
            try:
                while not self._stop.is_set():
                    self.once()
            except BaseException as exc:  # surfaced by stop()
                self.error = exc

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.consumer.close()


def wait_for(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def node_fixture(tmp: Path) -> Iterator[tuple[int, str]]:
    node, node_port = start_node_exporter(tmp)
    try:
        prom, url = start_prometheus(tmp, [f"127.0.0.1:{node_port}"])
        try:
            yield node_port, url
        finally:
            prom.stop()
    finally:
        node.stop()
