"""Keep the embedded broker alive under ``cloudtally up``: notice a crash, restart, say so.

:meth:`BrokerSupervisor.check` (called about once a second by the runner) looks
at s3rver and Tansu. A dead one is restarted — s3rver first, and Tansu is
started only once s3rver answers and is restarted with it (a Tansu that saw its
storage vanish mid-request was seen to panic and stall) — the event is printed, and
the state is written to ``data_dir/broker-supervisor.json`` — the worker's
``/readyz`` quotes it as the reason it is not ready, and its ``/metrics``
exports the restart counts (:mod:`cloudtally.broker.status`). A restart that
fails is retried on the next checks with a growing pause (at most 30 s).

A part can also hang while its process lives (a wedge): s3rver that stops
answering, or a Tansu whose fetches fail (:mod:`cloudtally.broker.wedge`'s fetch
probe). Once that lasts ``wedge_after_s`` (``CLOUDTALLY_BROKER_WEDGE_S``, 60 s) the
part is killed and restarted like a crashed one, the reason says "wedged", and
``cloudtally_broker_wedges_total`` counts it. While it lasts, ``/readyz`` quotes the
probe's failure. A Tansu still wedged after its own restart takes s3rver with it
on the next one (its storage is the likelier culprit).

With s3 storage a restart loses nothing the broker had acknowledged; what the
collectors could not send meanwhile stays in their outbox
(:mod:`cloudtally.collectors.delivery`) and is re-sent when the broker is back.
With memory storage the topics are recreated after a restart (their messages
and offsets are gone).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from cloudtally.broker.child import BrokerError, ChildServer
from cloudtally.broker.stack import BrokerStack
from cloudtally.broker.status import ComponentStatus, SupervisorStatus, status_path
from cloudtally.broker.wedge import FetchProbe

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


class BrokerSupervisor:
    """Restart whichever part of a started :class:`BrokerStack` has died."""

    def __init__(
        self,
        stack: BrokerStack,
        *,
        status_file: Path | None = None,
        say: Callable[[str], None] = log.warning,
        after_broker_start: Callable[[], object] | None = None,
        wedge_after_s: float | None = None,
        probe: FetchProbe | None = None,
    ) -> None:
        self.stack = stack
        self.wedge_after_s = (
            stack.settings.broker_wedge_s if wedge_after_s is None else wedge_after_s
        )
        # No probe given: one on the samples topic, started with the supervisor (0 = off).
        if probe is None and self.wedge_after_s > 0:
            probe = FetchProbe(
                stack.bootstrap,
                stack.settings.topic_samples,
                interval_s=min(5.0, self.wedge_after_s / 4),
                timeout_s=min(10.0, self.wedge_after_s / 2),
            ).start()
        self.probe = probe
        self._unanswered_since: float | None = None  # s3rver running but not answering
        self._broker_wedge_restarts = 0  # consecutive, without a good probe between
        self.say = say
        self.after_broker_start = after_broker_start
        self.status_file = status_file or status_path(stack.settings.data_dir)
        self.status = SupervisorStatus(storage=stack.storage)
        self._parts: list[tuple[str, ChildServer]] = []
        if stack.s3 is not None:
            self._parts.append(("s3rver", stack.s3))
        self._parts.append(("broker", stack.broker))
        for name, part in self._parts:
            self.status.components[name] = ComponentStatus(pid=part.pid)
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self.status.write(self.status_file)

    def close(self) -> None:
        """Stop the fetch probe's thread."""
        if self.probe is not None:
            self.probe.stop()

    def check(self) -> list[str]:
        """One pass: restart what died or wedged; returns what happened (also printed)."""
        events: list[str] = []
        self._check_wedges()
        for name, part in self._parts:
            if name == "broker" and self.stack.s3 is not None:
                if not self.stack.s3.running() or not self.stack.s3.answers(1.0):
                    break  # Tansu without its storage fails half-way: wait for s3rver first
                if events and part.running():
                    # s3rver was restarted under a live Tansu: a clean Tansu restart is
                    # cheaper than trusting a broker that saw its storage vanish mid-request.
                    part.stop()
            event = self._check_part(name, part)
            if event:
                events.append(event)
        if events and self.probe is not None:
            self.probe.reset()  # judge the restarted broker afresh
        self._note_probe()
        if events:
            self.status.write(self.status_file)
        return events

    # ------------------------------------------------------------ wedges
    def _check_wedges(self) -> None:
        """Kill a part that lives but does not serve, so the pass below restarts it."""
        if self.wedge_after_s <= 0:
            return
        now = time.monotonic()
        s3 = self.stack.s3
        if s3 is not None and s3.running():
            if s3.answers(min(2.0, self.wedge_after_s / 4)):
                self._unanswered_since = None
            else:
                self._unanswered_since = self._unanswered_since or now
                silent = now - self._unanswered_since
                if silent >= self.wedge_after_s:
                    self._unanswered_since = None
                    self._kill_wedged("s3rver", s3, f"does not answer for {silent:.0f}s")
                return  # Tansu cannot serve without its storage: judge it once s3rver answers
        failing = self.probe.failing() if self.probe is not None else None
        if failing is None:
            self._broker_wedge_restarts = 0
            return
        broker = self.stack.broker
        if failing.since_s >= self.wedge_after_s and broker.running():
            why = f"fetch failing for {failing.since_s:.0f}s ({failing.reason})"
            self._broker_wedge_restarts += 1
            if s3 is not None and s3.running() and self._broker_wedge_restarts >= 2:
                self._kill_wedged("s3rver", s3, f"the broker is still wedged: {why}")
            self._kill_wedged("broker", broker, why)

    def _kill_wedged(self, name: str, part: ChildServer, why: str) -> None:
        comp = self.status.components[name]
        comp.state, comp.down_since = "down", time.time()
        comp.wedges += 1
        comp.reason = f"{name} wedged: {why}"
        comp.last_exit = None
        self.status.write(self.status_file)
        self._say(f"{comp.reason}; killing and restarting it (log {part.log_path})")
        if part.proc is not None and part.proc.poll() is None:
            part.proc.kill()  # SIGKILL: a stopped (SIGSTOP) process ignores SIGTERM
        part.stop()
        if self.probe is not None:
            self.probe.reset()

    def _note_probe(self) -> None:
        """Let readiness quote a failing fetch before it counts as a wedge."""
        failing = self.probe.failing() if self.probe is not None else None
        text = (
            f"broker fetch failing for {failing.since_s:.0f}s: {failing.reason}" if failing else ""
        )
        comp = self.status.components["broker"]
        if comp.degraded != text:
            comp.degraded = text
            self.status.write(self.status_file)

    def _check_part(self, name: str, part: ChildServer) -> str | None:
        comp = self.status.components[name]
        if part.running():
            return None
        now = time.time()
        if comp.state == "up":  # newly noticed
            code = part.proc.returncode if part.proc is not None else None
            comp.state, comp.down_since, comp.last_exit = "down", now, code
            comp.reason = (
                f"{name} exited with code {code}" + _signal_name(code)
                if part.proc is not None
                else f"{name} stopped after its storage restarted"
            )
            self.status.write(self.status_file)  # readiness can quote it while we restart
            self._say(f"{comp.reason}; restarting it (log {part.log_path})")
            part.stop()  # reap and close the old log handle
        if now < self._retry_at.get(name, 0.0):
            return None
        try:
            part.start()
        except BrokerError as exc:
            pause = min(MAX_BACKOFF_S, self._backoff.get(name, 0.5) * 2)
            self._backoff[name] = pause
            self._retry_at[name] = time.time() + pause
            comp.reason = f"{name} restart failed: {str(exc).splitlines()[0]}"
            self._say(f"{comp.reason}; retrying in {pause:.0f}s")
            self.status.write(self.status_file)
            return None
        if name == "broker" and self.after_broker_start is not None:
            self.after_broker_start()
        down_s = time.time() - (comp.down_since or now)
        comp.state, comp.pid, comp.restarts = "up", part.pid, comp.restarts + 1
        comp.down_since, comp.reason = None, ""
        self._backoff.pop(name, None)
        self._retry_at.pop(name, None)
        lost = "nothing lost (s3 storage)" if self.stack.durable else "memory storage: topics empty"
        msg = (
            f"{name} restarted (pid {part.pid}, restart #{comp.restarts}, "
            f"down {down_s:.1f}s; {lost})"
        )
        self._say(msg)
        return msg

    def _say(self, text: str) -> None:
        self.say(f"[supervisor] {text}")


def _signal_name(code: int | None) -> str:
    import signal

    if code is not None and code < 0:
        try:
            return f" ({signal.Signals(-code).name})"
        except ValueError:
            return ""
    return ""
