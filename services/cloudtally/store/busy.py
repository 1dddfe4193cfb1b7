"""A chDB folder another process owns: one line that says what to do, not a traceback.

chDB allows one process per folder; in embedded mode (``make up``) the worker owns
it and serves the API. A store command run beside it (``cloudtally invoices list``,
``cloudtally billing …``) cannot open the folder: :func:`check_chdb_owner` turns
chDB's opaque failure into :class:`StoreBusy`, which the CLI prints as one line
naming the owning process and the API to use instead.
"""

from __future__ import annotations

import os
from pathlib import Path


class StoreBusy(RuntimeError):
    """The store is owned by another running process."""


def owner_pid(folder: Path) -> int | None:
    """The pid in the folder's ClickHouse ``status`` file, if that process is alive."""
    try:
        text = (folder / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("PID:"):
            try:
                pid = int(line.split(":", 1)[1])
            except ValueError:
                return None
            if pid == os.getpid():
                return None
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                return pid
            return pid
    return None


def busy_message(folder: Path, pid: int) -> str:
    from cloudtally.settings import get_settings

    s = get_settings()
    base = f"http://{s.api_host}:{s.api_port}"
    return (
        f"the store {folder} is owned by the running embedded stack (pid {pid}); use its API "
        f"instead (e.g. curl -H 'Authorization: Bearer <admin token>' {base}/api/v1/invoices; "
        f"docs at {base}/docs, tokens printed by `make up`) or stop it (Ctrl-C) and re-run"
    )


def check_chdb_owner(folder: Path) -> None:
    pid = owner_pid(folder)
    if pid is not None:
        raise StoreBusy(busy_message(folder, pid))
