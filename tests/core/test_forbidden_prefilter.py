"""The byte pre-filter before the id regex never lets a forbidden character through."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from cloudtally.core.ids import FORBIDDEN, FORBIDDEN_RE2
from cloudtally.core.samples_arrow import _may_hold_forbidden

FORBIDDEN_CHARS = [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)]
# Neighbours in UTF-8: U+00A0 (C2 A0), U+00C2 (C3 82), U+0100 (C4 80), CJK, emoji.
ALLOWED = ["vm-1", "\u00a0x", "\u00c2\u0080"[0] + "y", "\u0100", "虚拟机-01", "vm-😀", ""]


def regex_finds(arr: pa.Array) -> bool:
    return bool(pc.any(pc.match_substring_regex(arr, FORBIDDEN_RE2).fill_null(False)).as_py())


def test_every_forbidden_character_is_caught_wherever_it_sits() -> None:
    for ch in FORBIDDEN_CHARS:
        assert FORBIDDEN.search(ch)
        for ids in ([ch], [f"vm-{ch}"], ["ok", f"{ch}end", None], ["a" * 40 + ch]):
            arr = pa.array(ids, pa.string())
            assert regex_finds(arr) and _may_hold_forbidden(arr), (hex(ord(ch)), ids)


def test_clean_ids_skip_the_regex_and_slices_see_only_their_own_bytes() -> None:
    clean = pa.array([*ALLOWED, None], pa.string())
    assert not regex_finds(clean) and not _may_hold_forbidden(clean)
    mixed = pa.array(["\x01bad", "vm-1", "vm-2", "\u0085", "vm-3"], pa.string())
    assert not _may_hold_forbidden(mixed.slice(1, 2))  # the slice holds vm-1, vm-2 only
    assert _may_hold_forbidden(mixed.slice(2, 2))  # vm-2 and U+0085
    assert not _may_hold_forbidden(pa.array([], pa.string()))
    assert not _may_hold_forbidden(pa.array(["", ""], pa.string()))
