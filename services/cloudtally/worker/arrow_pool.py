"""Where pyarrow's buffers come from in the worker (``CLOUDTALLY_ARROW_MEMORY_POOL``).

pyarrow's default pool is its own mimalloc, which keeps freed segments for reuse: after
a flush's columns are freed it held 70-140 MB resident that glibc's settings
(worker/allocator.py) never reach. The system pool allocates with glibc malloc, so a
large buffer is mapped and unmapped on free (the worker's fixed mmap threshold) and the
rest is trimmed after the flush. Measured in docs/operations.md "Memory".
"""

from __future__ import annotations

import logging
import os
from typing import Literal

log = logging.getLogger(__name__)

ENV = "ARROW_DEFAULT_MEMORY_POOL"
Pool = Literal["system", "mimalloc", "jemalloc"]


def use(name: Pool) -> str:
    """Make ``name`` pyarrow's default pool, now (``set_memory_pool``: buffers already
    allocated stay where they are) and for child processes (``ARROW_DEFAULT_MEMORY_POOL``).
    Returns the backend in force; a pool this pyarrow was built without is an error."""
    import pyarrow as pa

    make = {"system": pa.system_memory_pool, "mimalloc": pa.mimalloc_memory_pool,
            "jemalloc": pa.jemalloc_memory_pool}  # fmt: skip
    if name not in make:
        raise ValueError(f"unknown Arrow memory pool {name!r}: use one of {sorted(make)}")
    try:
        pool = make[name]()
    except NotImplementedError as exc:  # pyarrow built without that allocator
        raise ValueError(f"this pyarrow has no {name} memory pool: {exc}") from exc
    pa.set_memory_pool(pool)
    os.environ[ENV] = name
    log.debug("pyarrow memory pool: %s", pool.backend_name)
    return str(pool.backend_name)
