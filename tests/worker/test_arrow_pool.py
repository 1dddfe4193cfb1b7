"""pyarrow's pool comes from CLOUDTALLY_ARROW_MEMORY_POOL (worker/arrow_pool.py): read
back from pyarrow itself, in a fresh process (the pool is process-wide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from cloudtally.settings import Settings
from cloudtally.worker.arrow_pool import use

PROBE = r"""
import json, os
import pyarrow as pa
from cloudtally.settings import Settings
from cloudtally.worker.arrow_pool import use

before = pa.default_memory_pool().backend_name
backend = use(Settings(_env_file=None).arrow_memory_pool)
buf = pa.allocate_buffer(1 << 20)  # a new buffer comes from the pool in force
print(json.dumps({"before": before, "backend": backend,
                  "now": pa.default_memory_pool().backend_name,
                  "env": os.environ.get("ARROW_DEFAULT_MEMORY_POOL"),
                  "system_bytes": pa.system_memory_pool().bytes_allocated()}))
"""


def probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env},
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_the_default_is_the_system_allocator() -> None:
    got = probe()
    assert got["before"] == "mimalloc"  # pyarrow's own default, replaced at worker start
    assert got["backend"] == got["now"] == got["env"] == "system"
    assert got["system_bytes"] >= 1 << 20


@pytest.mark.parametrize("name", ["mimalloc", "jemalloc"])
def test_pyarrows_own_pools_can_be_chosen(name: str) -> None:
    got = probe(CLOUDTALLY_ARROW_MEMORY_POOL=name)
    assert got["now"] == got["env"] == name


def test_an_unknown_pool_is_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError, match="system"):
        Settings(_env_file=None, arrow_memory_pool="tcmalloc")  # type: ignore[call-arg,arg-type]
    with pytest.raises(ValueError, match="use one of"):
        use("tcmalloc")  # type: ignore[arg-type]
