"""The allowed characters of an identifier (vm_id, disk_id, source, inventory ids).

An id is 1 to 128 characters of Unicode text without control characters: no
C0 controls (U+0000 to U+001F, so no NUL, tab or newline), no DEL (U+007F), no C1
controls (U+0080 to U+009F) and no lone surrogates (U+D800 to U+DFFF, which
cannot be stored as UTF-8). Everything else — letters of any script, digits,
punctuation, spaces inside the id — is allowed. Control characters break log
lines, CSV exports and C-string consumers downstream, and an id that differs
from another only by one is indistinguishable on screen.
"""

from __future__ import annotations

import re

MAX_ID_LEN = 128
# The same class as a Python pattern (for str) and as an RE2 pattern (for Arrow).
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
FORBIDDEN_RE2 = "[\\x{00}-\\x{1f}\\x{7f}-\\x{9f}]"


def id_problem(value: object, field: str) -> str | None:
    """Why ``value`` is not a valid id (the reason a reject carries), or None."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LEN:
        return f"{field} must be a non-empty string of at most {MAX_ID_LEN} characters"
    bad = FORBIDDEN.search(value)
    if bad is not None:
        return f"{field} contains control character U+{ord(bad.group()):04X}"
    return None


def any_forbidden(values: list[str]) -> bool:
    """One C-speed scan over all values: is any forbidden character present at all?"""
    return FORBIDDEN.search("".join(values)) is not None
