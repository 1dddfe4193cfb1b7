"""``Store.release_memory``: chDB gives what its jemalloc freed back at once (it would keep
it for seconds); a server store has nothing to give. The chDB case runs in a fresh
process, so the resident memory it reads is that query's alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cloudtally.store.base import Store

PROBE = r"""
import json, sys
from pathlib import Path
from cloudtally.store.chdb_store import ChdbStore

def anon_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024

store = ChdbStore(sys.argv[1])
store.rows("SELECT length(groupArray(number)) FROM numbers(40000000)")  # ~320 MB, freed
held = anon_mb()
store.release_memory()
after = anon_mb()
store.release_memory()  # again at once: not asked (at most every RELEASE_EVERY_S)
print(json.dumps({"held": held, "after": after, "one": store.scalar("SELECT 1")}))
"""


def test_chdb_gives_freed_memory_back_at_once(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "chdb")],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["held"] - got["after"] >= 100, got  # chDB's build would keep it for 5 s
    assert int(got["one"]) == 1


def test_release_memory_leaves_the_store_working(store: Store) -> None:
    store.release_memory()
    store.release_memory()
    assert int(store.scalar("SELECT 1")) == 1
