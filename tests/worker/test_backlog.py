"""The backlog signal: full takes defer the rollup step, within its bound, and only then."""

from __future__ import annotations

from cloudtally.worker.backlog import FRESH_S, Backlog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_full_takes_defer_until_the_bound() -> None:
    clock = Clock()
    backlog = Backlog(full_at=500, max_defer_s=60.0, clock=clock)
    last_run = clock.now
    backlog.noted(500)
    assert backlog.draining()
    clock.now += 59.0
    backlog.noted(500)
    assert backlog.defers(last_run)
    clock.now += 1.0  # 60 s since the last run: due however long the backlog lasts
    backlog.noted(500)
    assert not backlog.defers(last_run)


def test_a_partial_take_ends_the_backlog() -> None:
    clock = Clock()
    backlog = Backlog(full_at=500, max_defer_s=60.0, clock=clock)
    backlog.noted(500)
    assert backlog.defers(clock.now)
    backlog.noted(499)  # the topic ran dry: derive now
    assert not backlog.draining()
    assert not backlog.defers(clock.now)


def test_steady_state_never_defers() -> None:
    clock = Clock()
    backlog = Backlog(full_at=500, max_defer_s=60.0, clock=clock)
    for taken in (3, 7, 1, 120):
        backlog.noted(taken)
        assert not backlog.defers(clock.now)


def test_a_stale_full_take_stops_counting() -> None:
    """The topic ran dry exactly at a batch boundary (no later take), or the flush is
    held for a down store: after FRESH_S the full take no longer defers anything."""
    clock = Clock()
    backlog = Backlog(full_at=4, max_defer_s=600.0, clock=clock)
    backlog.noted(4)
    clock.now += FRESH_S - 0.1
    assert backlog.defers(clock.now - 1)
    clock.now += 0.2
    assert not backlog.draining()


def test_zero_bound_turns_deferral_off() -> None:
    clock = Clock()
    backlog = Backlog(full_at=1, max_defer_s=0.0, clock=clock)
    backlog.noted(1)
    assert backlog.draining()
    assert not backlog.defers(clock.now)


def test_each_step_waits_on_its_own_last_run() -> None:
    """``holds``: the alerts and the warm runs defer like the rollups, each bounded by
    its own last run (the worker's start at first), and a run is noted when it goes."""
    clock = Clock()
    backlog = Backlog(full_at=500, max_defer_s=60.0, clock=clock)
    assert not backlog.holds("alerts")  # steady state: runs (and is noted as run now)
    clock.now += 30.0
    backlog.noted(500)
    assert backlog.holds("alerts") and backlog.holds("console-warm")
    clock.now += 30.0
    backlog.noted(500)
    assert not backlog.holds("console-warm")  # 60 s since the start: due, noted
    assert backlog.holds("console-warm")  # ... so the next tick waits again
    assert not backlog.holds("alerts")  # 60 s since its own last run
    clock.now += 40.0
    backlog.noted(500)
    assert backlog.holds("alerts")
    backlog.noted(3)  # the backlog is gone: nothing waits
    assert not backlog.holds("alerts") and not backlog.holds("console-warm")
