"""A child process that ``cloudtally up`` starts again when it exits, instead of ending the run.

The worker exits when it cannot go on (a broker that dropped while it started,
a crash); nothing is lost by that: what it had not written is redelivered from
the last commit. Ending the whole run for it (broker, simulator and all) was the
wrong answer (issue #11). :class:`Restarting` keeps one child alive: an exit is
printed with its code and log, and the child is started again after a bounded
backoff (1, 2, 5, 10, 30 s, back to 1 s once it ran for a minute).

It stands in for the ``Popen`` it wraps where the runner waits on and stops
the child (``poll``, ``returncode``, ``send_signal``, ``wait``, ``kill``):
``poll()`` is None while a restart is pending, so the run goes on.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_S = 60.0  # a child that ran this long starts the ladder from the bottom again


class Restarting:
    def __init__(
        self,
        name: str,
        spawn: Callable[[], subprocess.Popen[bytes]],
        say: Callable[[str], object],
        *,
        log: str = "",
        delays: tuple[float, ...] = DELAYS_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self._spawn, self._say, self._log = name, spawn, say, log
        self._delays, self._clock = delays, clock
        self.restarts = 0
        self._attempt = 0
        self._due: float | None = None  # when the pending restart happens
        self._stopping = False
        self.proc = spawn()
        self._started = clock()

    def check(self) -> None:
        """Notice an exit, and start the child again when its delay has passed."""
        if self._stopping:
            return
        now = self._clock()
        if self._due is None:
            code = self.proc.poll()
            if code is None:
                return
            if now - self._started >= STABLE_S:
                self._attempt = 0
            delay = self._delays[min(self._attempt, len(self._delays) - 1)]
            self._attempt += 1
            self._due = now + delay
            where = f"; see {self._log}" if self._log else ""
            self._say(f"{self.name} exited with code {code}{where}; restarting it in {delay:.0f}s")
            return
        if now >= self._due:
            self._due = None
            self.proc = self._spawn()
            self._started = now
            self.restarts += 1
            self._say(f"{self.name} restarted (restart {self.restarts})")

    # ---------------------------------------------------- the Popen the runner sees
    def poll(self) -> int | None:
        self.check()
        return self.proc.poll() if self._stopping else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def send_signal(self, sig: int) -> None:
        self._stopping = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        self._stopping = True
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self._stopping = True
        self.proc.kill()
