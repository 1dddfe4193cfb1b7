"""Read a chDB folder from a short-lived subprocess.

chDB allows one data folder per process, and the test process already holds
one; an end-to-end test whose worker (another process) wrote its own folder
reads it through here once that worker has stopped::

    names, rows = query_folder(folder, "SELECT count() FROM samples FINAL", "cloudtally")

Values come back as :meth:`Store.query` gives them (Decimal, aware datetimes).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

_CHILD = """
import pickle, sys
from cloudtally.store import open_store
folder, database, sql = sys.argv[1:4]
with open_store("chdb://" + folder, database=database) as store:
    result = store.query(sql)
sys.stdout.buffer.write(pickle.dumps(result))
"""


def query_folder(
    folder: Path | str, sql: str, database: str = "cloudtally", timeout_s: float = 120.0
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SELECT against the chDB folder in a fresh process; fails if it is locked."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), database, sql],
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"chDB query in {folder} failed (exit {proc.returncode}):\n"
            + proc.stderr.decode(errors="replace")[-2000:]
        )
    names, rows = pickle.loads(proc.stdout)  # our own child's output, never external input
    return names, rows


def scalar_in_folder(folder: Path | str, sql: str, database: str = "cloudtally") -> Any:
    rows = query_folder(folder, sql, database)[1]
    return rows[0][0] if rows else None
