"""Store commands run beside the embedded stack (which owns the chDB folder) answer in one
line what to do instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HOLD = """
import sys, time
from cloudtally.store import open_store
store = open_store("chdb://" + sys.argv[1], "cloudtally")
store.scalar("SELECT 1")
print("holding", flush=True)
time.sleep(120)
"""

COMMANDS = [
    ["invoices", "list"],
    ["billing", "statement", "--month", "2026-01"],
    ["migrate"],
]


@pytest.fixture
def owned_folder(tmp_path: Path):
    folder = tmp_path / "chdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield folder, proc.pid
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_store_commands_say_in_one_line_what_to_do(owned_folder, command: list[str]) -> None:
    folder, pid = owned_folder
    env = {**os.environ, "CLOUDTALLY_STORE_URL": f"chdb://{folder}", "CLOUDTALLY_API_PORT": "8123"}
    r = subprocess.run(
        [sys.executable, "-m", "cloudtally.cli", *command],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert f"owned by the running embedded stack (pid {pid})" in lines[0]
    assert "http://127.0.0.1:8123/api/v1/invoices" in lines[0] and "Ctrl-C" in lines[0]
