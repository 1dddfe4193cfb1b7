"""A derivation step gives its freed pages back (worker/app.py run_step trims after it),
read from the kernel: the process's anonymous resident memory after a step that leaves
its heap fragmented (a 1 KiB block kept of every 100), with the trim and without it.
Each case in a fresh process: glibc's heaps are per process and stay."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cloudtally.worker.allocator import LIBC

pytestmark = pytest.mark.skipif(LIBC is None, reason="not glibc")

PROBE = r"""
import asyncio, json, sys
from cloudtally.worker.allocator import tune
tune(2, 256)  # the worker's defaults, before any thread
from cloudtally.worker import app

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

kept = []
def step():
    blocks = [bytes([i % 251]) * 1000 for i in range(200_000)]  # ~200 MB below the mmap threshold
    kept.extend(blocks[::100])  # what a step keeps: the heap stays fragmented
    return len(blocks)

async def main(trim):
    before = anon_mb()
    if trim:
        n = await app.run_step("probe", step)
    else:
        n = await asyncio.to_thread(step)
    return {"n": n, "grew_mb": anon_mb() - before}

print(json.dumps(asyncio.run(main(sys.argv[1] == "trim"))))
"""


def probe(mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_a_step_gives_its_freed_pages_back() -> None:
    trimmed, kept = probe("trim"), probe("plain")
    assert trimmed["n"] == kept["n"] == 200_000
    assert kept["grew_mb"] > 150  # glibc alone keeps the fragmented heap resident
    assert trimmed["grew_mb"] < kept["grew_mb"] / 3
