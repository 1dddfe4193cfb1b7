"""The uniform VM shortcut of :func:`split_placed` (always up, or never metered) gives
exactly what the span arithmetic of :func:`assess` gives, month by month and place by
place, on evidence nobody tidied: overlapping and touching spans, empty spans, spans
out of order, marks outside the metered time, moves inside a month."""

from __future__ import annotations

import random
from dataclasses import replace
from itertools import pairwise

from cloudtally.core.availability import (
    DownMark,
    VmEvidence,
    merge,
    split_evidence,
    split_placed,
    uniform,
)
from cloudtally.core.placement import Placement, placed_periods

DAY = 86_400
PERIODS = [(m, (m * 30 * DAY, (m + 1) * 30 * DAY)) for m in range(4)]  # four "months"
END = 4 * 30 * DAY


def reference(ev, periods, placements):  # type: ignore[no-untyped-def]
    """split_placed as it was before the shortcut: assess() on every placed part."""
    exists = merge(ev.exists)
    out = []
    for key, place, span in placed_periods(periods, placements):
        if not [x for x in exists if x[0] < span[1] and x[1] > span[0]]:
            continue
        for k, va in split_evidence(ev, [(key, span)]):
            out.append((k, replace(va, labels=place.labels())))
    return out


def spans(rng: random.Random, n: int, lo: int = -DAY, hi: int = END + DAY):  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        s = rng.randrange(lo, hi)
        out.append((s, s + rng.choice([0, 1, 59, 3_600, 5 * DAY, 40 * DAY])))
    rng.shuffle(out)
    return out


def evidence(rng: random.Random, shape: str) -> VmEvidence:
    exists = spans(rng, rng.randint(1, 4), 0, END)
    if rng.random() < 0.3:  # touching pieces, as two inventory periods leave them
        _, e = exists[0]
        exists.append((e, e + DAY))
    cover = [(-DAY, END + DAY)]
    if shape == "up":
        listening = cover if rng.random() < 0.5 else [*exists, *spans(rng, 2)]
        answered = cover if rng.random() < 0.5 else [*exists, *spans(rng, 1)]
        marks = ()
        if rng.random() < 0.2:  # a node_exporter "down" inside: no longer uniform
            s, e = exists[0]
            marks = (DownMark(s, max(s + 1, e - 1), "target_down"),)
    elif shape == "gap":
        listening = [(END + 2 * DAY, END + 3 * DAY)] if rng.random() < 0.5 else []
        answered = spans(rng, rng.randint(0, 3))
        marks = tuple(DownMark(s, e, "target_down") for s, e in spans(rng, rng.randint(0, 2)))
    else:
        listening = spans(rng, rng.randint(0, 4))
        answered = spans(rng, rng.randint(0, 4))
        marks = tuple(DownMark(s, e, "target_down") for s, e in spans(rng, rng.randint(0, 2)))
    return VmEvidence("vm-1", exists, listening, answered, marks)


def placements(rng: random.Random) -> list[Placement]:
    cuts = sorted(rng.sample(range(1, END), rng.randint(0, 3)))
    edges = [0, *cuts, 4_294_967_295]
    out = []
    for i, (s, e) in enumerate(pairwise(edges)):
        if rng.random() < 0.8:  # sometimes nowhere (deleted, another bureau's time)
            out.append(Placement("vm-1", s, e, f"b{i % 2}", f"s{i}", f"p{i % 3}", "prov"))
    return out


def test_the_shortcut_equals_the_span_arithmetic() -> None:
    rng = random.Random(20261202)
    taken = {"up": 0, "gap": 0, None: 0}
    for case in range(3_000):
        ev = evidence(rng, rng.choice(["up", "gap", "mixed"]))
        places = placements(rng)
        taken[uniform(ev)] += 1
        got = split_placed(ev, PERIODS, places)
        assert got == reference(ev, PERIODS, places), (case, ev, places)
    assert min(taken.values()) > 300, taken  # each way was really tried


def test_a_down_mark_or_one_unanswered_second_is_not_uniform() -> None:
    whole = [(0, 10 * DAY)]
    assert uniform(VmEvidence("v", whole, whole, whole)) == "up"
    assert uniform(VmEvidence("v", whole, whole, [(0, 5 * DAY), (5 * DAY + 1, 10 * DAY)])) is None
    assert uniform(VmEvidence("v", whole, whole, whole, (DownMark(5, 6, "x"),))) is None
    assert uniform(VmEvidence("v", whole, [(0, 1)], whole)) is None
    assert uniform(VmEvidence("v", whole, [(10 * DAY, 11 * DAY)], whole)) == "gap"
