"""The audit ledger's arithmetic: canonical content hashes and a hash chain (pure).

Every act that fixes money or policy (a month closed, a policy activated, a re-rate,
a restatement, an invoice imported, a verification run, a rightsizing decision) is one
ledger entry. An entry holds the SHA-256 of a *canonical serialisation* of the rows it
fixed and the hash of the entry before it, so changing, deleting or adding a row behind
the ledger's back changes a content hash, and changing or removing an entry breaks the
chain. Whoever keeps a copy of the head hash outside the system (a printed statement, a
letter) can prove the whole history up to that point.

Canonical form (documented in docs/audit.md, re-implemented by the standalone pack
verifier, so it must stay simple): each value becomes text — ``None`` → ``null``, a
Decimal in plain notation without trailing zeros (``16.00`` → ``16``), an int as digits,
a float by ``repr``, a date as ``YYYY-MM-DD``, a datetime as UTC epoch seconds, a
bool as ``0``/``1``, a list as its JSON array of canonical items; a row is the JSON array
of its values' texts; a part is ``name``, its column names, then its rows sorted, one per
line; the content is its parts in name order. Engines that return ``16.00`` or ``16``,
``Decimal`` or ``str`` for the same stored value give the same hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64


def canonical_value(value: Any) -> str:
    """One value as its canonical text (see the module docstring)."""
    if type(value) is str:  # the common case first: ids, names, JSON text
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        if value == 0:
            return "0"
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        if value == int(value) and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in ledger content: attach a timezone")
        return str(int(value.timestamp()))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, list | tuple):
        return json.dumps([canonical_value(v) for v in value], ensure_ascii=False)
    if hasattr(value, "item"):  # numpy scalar
        return canonical_value(value.item())
    return str(value)


def canonical_row(row: Sequence[Any]) -> str:
    return json.dumps([canonical_value(v) for v in row], ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Part:
    """Rows of one kind that an entry fixes (e.g. the bill lines of a closed month)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def canonical_lines(self) -> list[str]:
        return sorted(canonical_row(r) for r in self.rows)

    def iter_canonical_lines(self) -> Iterator[str]:
        """The canonical lines in sorted order (a streamed part yields them chunk by chunk)."""
        return iter(self.canonical_lines())

    @property
    def count(self) -> int:
        """Rows this part stands for (a digest part stands for the lines it digests)."""
        if "lines" in self.columns and self.name.endswith("_digests"):
            i = self.columns.index("lines")
            return sum(int(r[i]) for r in self.rows)
        return len(self.rows)

    def digest(self) -> str:
        return _lines_digest(self.iter_canonical_lines())


@dataclass(frozen=True)
class StreamedPart(Part):
    """A part too large to hold as rows: its canonical lines come, already sorted, from
    ``lines`` (called once per pass) in blocks, each block one or more lines joined by
    newlines (never empty), and it stands for ``n`` rows. Hashes are those of the same
    rows held as a :class:`Part` (a block hashes as its lines do); the first full pass
    keeps the part's digest, so hashing the content and then the part reads the rows
    once. ``canonical_lines`` gives the blocks."""

    lines: Callable[[], Iterable[str]] = field(default=lambda: (), compare=False)
    n: int = 0
    _digest: list[str] = field(default_factory=list, compare=False, repr=False)

    def canonical_lines(self) -> list[str]:
        return list(self.iter_canonical_lines())

    def iter_canonical_lines(self) -> Iterator[str]:
        h = hashlib.sha256()
        empty = True
        for line in self.lines():
            h.update(line.encode("utf-8"))
            h.update(b"\n")
            empty = False
            yield line
        self._digest[:] = [_lines_digest(()) if empty else h.hexdigest()]

    @property
    def count(self) -> int:
        return self.n

    def digest(self) -> str:
        return self._digest[0] if self._digest else super().digest()


def _lines_digest(lines: Iterable[str]) -> str:
    """SHA-256 of the lines joined by newlines plus a final one (no lines: one newline)."""
    h = hashlib.sha256()
    empty = True
    for line in lines:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
        empty = False
    if empty:
        h.update(b"\n")
    return h.hexdigest()


def _content_lines(parts: Iterable[Part]) -> Iterator[str]:
    for part in sorted(parts, key=lambda p: p.name):
        yield f"# {part.name}"
        yield canonical_row(part.columns)
        yield from part.iter_canonical_lines()


def canonical_content(parts: Iterable[Part]) -> bytes:
    return "".join(line + "\n" for line in _content_lines(parts)).encode("utf-8")


def content_hash(parts: Iterable[Part]) -> str:
    """SHA-256 of :func:`canonical_content`, computed line by line (never all in memory)."""
    h = hashlib.sha256()
    for line in _content_lines(parts):
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def row_count(parts: Iterable[Part]) -> int:
    return sum(p.count for p in parts)


def part_digests(parts: Iterable[Part]) -> list[tuple[str, str, int, str]]:
    """(part, key, rows, sha256) per part, and per key of a digest part: names what changed.

    Only a diagnostic aid for ``audit verify`` (it says *which* part or bureau differs);
    the authority is the chained content hash.
    """
    out: list[tuple[str, str, int, str]] = []
    for p in parts:
        out.append((p.name, "", p.count, p.digest()))
        if p.name.endswith("_digests") and p.columns[:3] == ("bureau", "lines", "sha256"):
            out.extend((p.name, str(r[0]), int(r[1]), str(r[2])) for r in p.rows)
    return out


@dataclass(frozen=True)
class Entry:
    """One ledger entry. ``subject`` says what was fixed, as data a selector can re-read."""

    seq: int
    entry_id: str
    kind: str
    subject: Mapping[str, Any]
    content_hash: str
    row_count: int
    actor: str
    reason: str
    at: int  # UTC epoch seconds
    prev_hash: str
    entry_hash: str = ""

    def subject_text(self) -> str:
        return subject_text(self.subject)

    def computed_hash(self) -> str:
        return entry_hash(self)

    def sealed(self) -> Entry:
        return Entry(**{**self.__dict__, "entry_hash": entry_hash(self)})


def subject_text(subject: Mapping[str, Any]) -> str:
    return json.dumps(subject, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(e: Entry) -> str:
    """SHA-256 over the entry's fields and the previous hash (not over its own hash)."""
    fields = [
        str(e.seq), e.entry_id, e.kind, subject_text(e.subject), e.content_hash,
        str(e.row_count), e.actor, e.reason, str(e.at), e.prev_hash,
    ]  # fmt: skip
    return hashlib.sha256(canonical_row(fields).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Something ``audit verify`` found: the first broken place is what matters most."""

    seq: int
    code: str  # chain_break | entry_altered | seq_gap | seq_duplicate | rows_changed | ...
    message: str


def verify_chain(entries: Sequence[Entry]) -> list[Problem]:
    """Check the chain alone: contiguous sequence, each prev_hash, each entry's own hash."""
    problems: list[Problem] = []
    prev = GENESIS
    expected_seq = 1
    seen: set[int] = set()
    for e in sorted(entries, key=lambda x: (x.seq, x.entry_id)):
        if e.seq in seen:
            problems.append(
                Problem(e.seq, "seq_duplicate", f"entry {e.seq} appears twice (a fork)")
            )
            continue
        seen.add(e.seq)
        if e.seq != expected_seq:
            problems.append(
                Problem(
                    e.seq,
                    "seq_gap",
                    f"entries {expected_seq}..{e.seq - 1} are missing (deleted from the ledger)",
                )
            )
        if e.prev_hash != prev:
            problems.append(
                Problem(e.seq, "chain_break", f"entry {e.seq} does not follow the entry before it")
            )
        if e.computed_hash() != e.entry_hash:
            problems.append(
                Problem(
                    e.seq,
                    "entry_altered",
                    f"entry {e.seq} ({e.kind}) was edited after it was written",
                )
            )
        prev = e.entry_hash
        expected_seq = e.seq + 1
    return problems


def next_entry(
    head: Entry | None,
    *,
    entry_id: str,
    kind: str,
    subject: Mapping[str, Any],
    parts: Sequence[Part],
    actor: str,
    reason: str,
    at: int,
) -> Entry:
    """The sealed entry that follows ``head`` (or starts the chain)."""
    return Entry(
        seq=(head.seq + 1) if head else 1,
        entry_id=entry_id,
        kind=kind,
        subject=dict(subject),
        content_hash=content_hash(parts),
        row_count=row_count(parts),
        actor=actor,
        reason=reason,
        at=at,
        prev_hash=head.entry_hash if head else GENESIS,
    ).sealed()
