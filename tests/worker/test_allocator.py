"""The worker's glibc malloc settings reach glibc (worker/allocator.py), read back from it.

Each case runs in a fresh process (arenas and thresholds are per process and stay):
glibc's own ``malloc_info`` counts the heaps four allocating threads used, and
``mallinfo2`` says whether a 1 MiB block was mapped on its own after an 8 MiB block
was freed (glibc's dynamic threshold would have put it in a heap, kept after free).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cloudtally.settings import Settings
from cloudtally.worker.allocator import LIBC

pytestmark = pytest.mark.skipif(LIBC is None, reason="not glibc")

PROBE = r"""
import ctypes, json, os, re, sys, tempfile, threading
from cloudtally.worker.allocator import LIBC, tune

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]

LIBC.mallinfo2.restype = MallInfo2
LIBC.malloc.restype = ctypes.c_void_p
LIBC.free.argtypes = [ctypes.c_void_p]
LIBC.fopen.restype = ctypes.c_void_p
LIBC.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
LIBC.fclose.argtypes = [ctypes.c_void_p]
tuned = tune(int(sys.argv[1]), int(sys.argv[2]))

big = LIBC.malloc(8 << 20)
LIBC.free(big)  # glibc's dynamic threshold now rises to 8 MiB
before = LIBC.mallinfo2().hblkhd
block = LIBC.malloc(1 << 20)
mapped = LIBC.mallinfo2().hblkhd - before >= (1 << 20)
LIBC.free(block)

start = threading.Barrier(4)
def work():
    start.wait()
    keep = [LIBC.malloc(200) for _ in range(2000)]
    start.wait()  # all four hold their blocks at once
    for p in keep:
        LIBC.free(p)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
path = tempfile.mktemp()
fp = LIBC.fopen(path.encode(), b"w")
LIBC.malloc_info(0, fp)
LIBC.fclose(fp)
heaps = len(re.findall(r'<heap nr="\d+">', open(path).read()))
os.unlink(path)
print(json.dumps({"tuned": tuned, "heaps": heaps, "mapped_after_big_free": mapped}))
"""


def probe(arena_max: int, mmap_kb: int) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(arena_max), str(mmap_kb)],
                         capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_defaults_cap_the_heaps_and_map_large_blocks() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    got = probe(s.malloc_arena_max, s.malloc_mmap_threshold_kb)
    assert got["tuned"] is True
    assert got["heaps"] <= s.malloc_arena_max == 2
    assert got["mapped_after_big_free"] is True


def test_zero_leaves_glibc_as_it_is() -> None:
    got = probe(0, 0)
    assert got["tuned"] is True
    assert got["heaps"] > 2  # four threads at once: glibc gave them heaps of their own
    assert got["mapped_after_big_free"] is False  # the dynamic threshold kept it in a heap
