"""One server binary as a child process: start, wait until it answers, stop in order.

Shared by the embedded broker (Tansu) and its storage (s3rver) so both start,
log and stop the same way: output appended to ``log_dir/<name>.log``, ready
when :meth:`ChildServer.answers` says so, SIGTERM then SIGKILL on stop, and
(``stop_with_parent``) a Linux parent-death signal so no orphan outlives a
killed ``cloudtally up`` or test run.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

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
    """The broker (or its storage) could not be started or did not become ready."""


class Lifecycle:
    """``with`` support for anything with ``start() -> self`` and ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ChildServer(Lifecycle):
    """Base for a server run for the lifetime of a ``with`` block; always stopped on exit."""

    name = "server"  # log file name and what messages call it

    def __init__(
        self,
        log_dir: Path | str,
        *,
        ready_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
        stop_with_parent: bool = True,
    ) -> None:
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.stop_with_parent = stop_with_parent
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # ------------------------------------------------------------ subclass hooks
    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def answers(self, timeout_s: float) -> bool:
        """True when the server answers its protocol (not just an open port)."""
        raise NotImplementedError

    def address(self) -> str:
        raise NotImplementedError

    def before_start(self) -> None:
        """Refuse to start when something else already serves the address."""
        if self.answers(0.5):
            raise BrokerError(f"something already answers at {self.address()} ({self.name})")

    # ------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Self:
        if self.running():
            return self
        self.before_start()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 -- closed in stop()
        log.info("starting %s on %s (log %s)", self.name, self.address(), self.log_path)
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            start_new_session=True,  # Ctrl-C in a terminal reaches us, we stop it in order
            preexec_fn=die_with_parent if self.stop_with_parent else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("%s ready on %s (pid %d)", self.name, self.address(), self.proc.pid)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"{self.name} exited with code {self.proc.returncode}; "
                    f"see {self.log_path}:\n" + self.log_tail()
                )
            if self.answers(1.0):
                return
            time.sleep(0.05)
        raise BrokerError(
            f"{self.name} did not answer on {self.address()} within {self.ready_timeout_s}s; "
            f"see {self.log_path}:\n" + self.log_tail()
        )

    def log_tail(self, lines: int = 20) -> str:
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
                    log.warning("%s did not stop on SIGTERM; killing pid %d", self.name, proc.pid)
                    proc.kill()
                    proc.wait()
            code = proc.returncode
            log.info("%s stopped (exit %s)", self.name, code)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code
