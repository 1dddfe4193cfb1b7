"""The rollup step's duty cycle: a long run pushes the next one back, a short one does not."""

from __future__ import annotations

import time

import pytest

from cloudtally.worker.app import DutyCycle


def test_a_long_run_defers_the_next_in_proportion() -> None:
    duty = DutyCycle(0.25)
    assert duty.due()
    before = time.monotonic()
    with duty.timed():
        time.sleep(0.2)
    # 0.2 s (or more) of work at 25 %: the next run is due 0.8 s (or more) after it began.
    assert duty.next_at >= before + 0.8
    duty.next_at = time.monotonic()  # as if that time had passed
    assert duty.due()


def test_a_failing_run_still_counts() -> None:
    duty = DutyCycle(0.5)
    before = time.monotonic()
    with pytest.raises(RuntimeError), duty.timed():
        time.sleep(0.05)
        raise RuntimeError("step failed")
    assert duty.next_at >= before + 0.1
