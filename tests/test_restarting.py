"""``cloudtally up`` restarts a worker that exits instead of ending the run (real processes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from cloudtally.restarting import Restarting


def test_a_child_that_exits_is_started_again_and_stops_when_asked(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    # Exits with code 1 on its first start (a worker whose broker dropped), then runs.
    script = (
        "import pathlib, sys, time; p = pathlib.Path(sys.argv[1]); "
        "n = len(p.read_text()) if p.exists() else 0; p.write_text('x' * (n + 1)); "
        "sys.exit(1) if n == 0 else time.sleep(60)"
    )
    said: list[str] = []
    child = Restarting(
        "worker",
        lambda: subprocess.Popen([sys.executable, "-c", script, str(starts)]),
        say=said.append,
        log="worker.log",
        delays=(0.2,),
    )
    deadline = time.monotonic() + 30
    while child.restarts == 0 and time.monotonic() < deadline:
        assert child.poll() is None  # the run goes on while the restart is pending
        time.sleep(0.05)
    while starts.read_text() != "xx" and time.monotonic() < deadline:  # the second start
        time.sleep(0.05)
    assert child.restarts == 1 and starts.read_text() == "xx"
    assert said == [
        "worker exited with code 1; see worker.log; restarting it in 0s",
        "worker restarted (restart 1)",
    ]
    time.sleep(0.5)
    assert child.poll() is None and child.proc.poll() is None  # the second start runs
    child.send_signal(signal.SIGTERM)
    assert child.wait(10) == -signal.SIGTERM
    assert child.poll() == -signal.SIGTERM  # asked to stop: not started again
    time.sleep(0.3)
    assert child.restarts == 1
