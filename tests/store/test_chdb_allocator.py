"""chDB's own jemalloc takes the worker's options (store/chdb_allocator.py), read back
from the engine: ``system.jemalloc_stats`` prints the options in force. Each case runs in
a fresh process: jemalloc reads its options once, when chDB's library loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudtally.store.chdb_allocator import configure

PROBE = r"""
import json, re, sys
from cloudtally.settings import Settings
from cloudtally.store.chdb_allocator import configure
from cloudtally.store.chdb_store import ChdbStore

ok = configure(Settings().chdb_malloc_conf)
store = ChdbStore(sys.argv[1])
stats = str(store.rows("SELECT * FROM system.jemalloc_stats")[0][0])
opt = dict(re.findall(r"opt\.(dirty_decay_ms|muzzy_decay_ms|narenas): (\d+)", stats))
again = configure("dirty_decay_ms:1000")  # chDB is loaded now: too late
print(json.dumps({"ok": ok, "again": again, "opt": opt}))
"""


def probe(tmp_path: Path, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("JE_MALLOC_CONF", "CLOUDTALLY_CHDB_MALLOC_CONF")}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "chdb")],
                         env={**clean, **env}, capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_the_setting_reaches_chdbs_jemalloc(tmp_path: Path) -> None:
    conf = "dirty_decay_ms:0,muzzy_decay_ms:0"
    got = probe(tmp_path, CLOUDTALLY_CHDB_MALLOC_CONF=conf)
    assert got["ok"] is True
    assert got["opt"] == {"dirty_decay_ms": "0", "muzzy_decay_ms": "0", "narenas": "2"}
    assert got["again"] is False  # set after chDB loaded: refused, not silently ignored


def test_the_default_frees_chdbs_pages_at_once(tmp_path: Path) -> None:
    got = probe(tmp_path)  # no setting, no JE_MALLOC_CONF
    assert got["opt"]["dirty_decay_ms"] == "0"
    assert got["opt"]["muzzy_decay_ms"] == "0"


def test_empty_leaves_chdbs_build_and_an_operators_own_env(tmp_path: Path) -> None:
    got = probe(tmp_path, CLOUDTALLY_CHDB_MALLOC_CONF="")
    assert got["opt"]["dirty_decay_ms"] == "5000"  # chDB's build
    got = probe(tmp_path / "b", CLOUDTALLY_CHDB_MALLOC_CONF="", JE_MALLOC_CONF="dirty_decay_ms:250")
    assert got["opt"]["dirty_decay_ms"] == "250"


def test_an_operators_own_env_wins_over_the_setting(tmp_path: Path) -> None:
    got = probe(tmp_path, CLOUDTALLY_CHDB_MALLOC_CONF="dirty_decay_ms:0,muzzy_decay_ms:0",
                JE_MALLOC_CONF="dirty_decay_ms:250")  # fmt: skip
    assert got["ok"] is True
    assert got["opt"]["dirty_decay_ms"] == "250"


@pytest.mark.parametrize("bad", ["dirty_decay_ms", "dirty_decay_ms:0;rm -rf", "a:1,,b:2", " x:1"])
def test_a_malformed_option_string_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ValueError, match="name:value"):
        configure(bad)
