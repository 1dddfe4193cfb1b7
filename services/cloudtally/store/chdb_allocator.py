"""chDB's own allocator (jemalloc, inside its library), configured before chDB loads.

chDB does not allocate with glibc: its library carries a jemalloc that keeps freed
pages for ``dirty_decay_ms`` (5 s in chDB's build) in each of its arenas, so the
worker's glibc settings (worker/allocator.py) never reach it. That jemalloc reads
``JE_MALLOC_CONF`` from the environment once, when the library is loaded (``MALLOC_CONF``
is ignored), so the setting must be in the environment before ``import chdb``; set
later it does nothing, and ``configure`` says so. Measured in docs/operations.md "Memory".
"""

from __future__ import annotations

import logging
import os
import re
import sys

log = logging.getLogger(__name__)

ENV = "JE_MALLOC_CONF"
# jemalloc's option string: name:value pairs separated by commas (its own syntax).
_CONF = re.compile(r"[a-z_]+:[A-Za-z0-9_.\-]+(,[a-z_]+:[A-Za-z0-9_.\-]+)*")


def configure(conf: str) -> bool:
    """Put ``conf`` (jemalloc options, e.g. ``dirty_decay_ms:0``) where chDB's jemalloc
    reads it. An operator's own ``JE_MALLOC_CONF`` wins (it is the more specific of the
    two: logged, kept); empty leaves the environment as it is. False, with a warning,
    when chDB is already loaded: too late."""
    if not conf:
        return True
    if not _CONF.fullmatch(conf):
        raise ValueError(f"bad chDB allocator options {conf!r}: use name:value,name:value")
    if "chdb" in sys.modules:
        log.warning("chDB is already loaded: its allocator options %r take effect at the "
                    "next start", conf)  # fmt: skip
        return False
    own = os.environ.get(ENV)
    if own and own != conf:
        log.info("%s=%s is set: chDB's allocator uses it, not %r", ENV, own, conf)
        return True
    os.environ[ENV] = conf
    return True
