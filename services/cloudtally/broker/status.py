"""What the broker supervisor knows, shared with the worker's ``/readyz`` and ``/metrics``.

The supervisor (``cloudtally up``) and the worker are separate processes: the
supervisor writes its state to ``data_dir/broker-supervisor.json`` (atomically,
on every event), the worker reads it. :class:`BrokerProbe` is readiness's
broker check — it asks the broker itself (a metadata request) and adds the
supervisor's account when the broker does not answer. :class:`RestartCollector`
exports ``cloudtally_broker_restarts_total``, ``cloudtally_broker_wedges_total``
and ``cloudtally_broker_up`` (0 while down or failing fetches) per component
(broker, s3rver) from the same file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

STATUS_FILE = "broker-supervisor.json"


def status_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATUS_FILE


@dataclass
class ComponentStatus:
    state: str = "up"  # "up" or "down"
    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None
    down_since: float | None = None
    reason: str = ""
    wedges: int = 0  # killed and restarted because it lived but did not serve
    degraded: str = ""  # up, but failing (the fetch probe's account), not yet a wedge


@dataclass
class SupervisorStatus:
    storage: str = "s3"
    components: dict[str, ComponentStatus] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({**asdict(self), "written_at": time.time()}, indent=1))
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> SupervisorStatus | None:
        """The last state written, or None when no supervisor runs (or the file is unreadable)."""
        try:
            raw = json.loads(path.read_text())
            comps = {k: ComponentStatus(**v) for k, v in raw.get("components", {}).items()}
            return cls(storage=raw.get("storage", "s3"), components=comps)
        except (OSError, ValueError, TypeError):
            return None

    def down(self) -> list[str]:
        return [
            c.reason or f"{name} down" for name, c in self.components.items() if c.state != "up"
        ]

    def troubles(self) -> list[str]:
        """What is down, and what is up but failing (a wedge in the making)."""
        return self.down() + [
            c.degraded for c in self.components.values() if c.state == "up" and c.degraded
        ]


class BrokerProbe:
    """``() -> None`` when the broker answers, else the reason; cached for ``ttl_s``.

    A metadata request is cheap but not free (a new client per probe): a load
    balancer polling ``/readyz`` several times a second asks the broker once.
    """

    def __init__(self, bootstrap: str, status_file: Path | None, ttl_s: float = 1.0) -> None:
        self.bootstrap, self.status_file, self.ttl_s = bootstrap, status_file, ttl_s
        self._lock = threading.Lock()
        self._at = 0.0
        self._last: str | None = None

    def __call__(self) -> str | None:
        with self._lock:
            if time.monotonic() - self._at < self.ttl_s:
                return self._last
            self._last = self._probe()
            self._at = time.monotonic()
            return self._last

    def _probe(self) -> str | None:
        from cloudtally.broker.embedded import broker_ready

        answers = broker_ready(self.bootstrap, timeout_s=1.0)
        status = SupervisorStatus.read(self.status_file) if self.status_file else None
        if answers:
            # It answers metadata; it may still not serve fetches (a wedge).
            if status is not None and status.troubles():
                return "Kafka broker: supervisor: " + "; ".join(status.troubles())
            return None
        reason = f"Kafka broker at {self.bootstrap} does not answer"
        if status is not None and status.troubles():
            reason += "; supervisor: " + "; ".join(status.troubles())
        return reason


class RestartCollector(Collector):
    """Prometheus collector over the supervisor's status file (read at each scrape)."""

    def __init__(self, status_file: Path) -> None:
        self.status_file = status_file

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        restarts = CounterMetricFamily(
            "cloudtally_broker_restarts",
            "Embedded broker parts restarted by the cloudtally up supervisor after a crash",
            labels=["component"],
        )
        up = GaugeMetricFamily(
            "cloudtally_broker_up",
            "1 while the supervisor sees the embedded broker part running, else 0",
            labels=["component"],
        )
        wedges = CounterMetricFamily(
            "cloudtally_broker_wedges",
            "Embedded broker parts killed and restarted because they lived but did not serve",
            labels=["component"],
        )
        status = SupervisorStatus.read(self.status_file)
        for name, comp in (status.components if status else {}).items():
            restarts.add_metric([name], comp.restarts)
            wedges.add_metric([name], comp.wedges)
            up.add_metric([name], 1.0 if comp.state == "up" and not comp.degraded else 0.0)
        yield restarts
        yield wedges
        yield up


def install_broker_health(api: object, settings: object) -> None:
    """Give the worker's API a broker check for ``/readyz`` and the restart metrics.

    Only where the API runs inside the worker (which cannot ingest without the
    broker); the API alone in cluster mode serves reads without Kafka.
    """
    from prometheus_client import REGISTRY

    from cloudtally.settings import Settings

    assert isinstance(settings, Settings)
    path = status_path(settings.data_dir)
    api.state.broker_probe = BrokerProbe(settings.kafka_bootstrap, path)  # type: ignore[attr-defined]
    global _collector
    if _collector is None:
        _collector = RestartCollector(path)
        REGISTRY.register(_collector)
    else:
        _collector.status_file = path


_collector: RestartCollector | None = None
