"""A tiny in-process sampling profiler: py-spy cannot read this machine's Python build.

``python loadtest/stack_sampler.py OUT -m module args...`` runs ``module`` (like
``python -m``) with a thread that samples every thread's Python stack every 10 ms and
rewrites OUT every 2 s in py-spy's collapsed format (``frame;frame;frame count``).
Time spent inside C (chDB, pyarrow, the socket) shows as the Python frame that called it.
"""

from __future__ import annotations

import collections
import os
import runpy
import sys
import threading
import time


def _frames(frame) -> str:  # type: ignore[no-untyped-def]
    out = []
    while frame is not None:
        code = frame.f_code
        out.append(f"{code.co_name} ({os.path.basename(code.co_filename)}:{frame.f_lineno})")
        frame = frame.f_back
    return ";".join(reversed(out))


def start(path: str, interval: float = 0.01) -> None:
    counts: collections.Counter[str] = collections.Counter()

    def run() -> None:
        me = threading.get_ident()  # the sampler's own thread (not the caller's)
        last = time.monotonic()
        while True:
            time.sleep(interval)
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    counts[_frames(frame)] += 1
            if time.monotonic() - last > 2:
                last = time.monotonic()
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    f.writelines(f"{k} {v}\n" for k, v in counts.items())
                os.replace(tmp, path)

    threading.Thread(target=run, daemon=True, name="stack-sampler").start()


def run_sampled(start_sampler) -> None:  # type: ignore[no-untyped-def]
    """``OUT -m module args...`` from sys.argv: start the sampler on OUT, run the module."""
    out, flag, module, *rest = sys.argv[1:]
    assert flag == "-m"
    start_sampler(out)
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    run_sampled(start)
