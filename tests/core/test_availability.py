"""Availability from evidence: silence under a listening collector is downtime, a silent
collector is a gap, incidents split at month boundaries, figures never round up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from cloudtally.core.availability import (
    CAUSE_NOT_RUNNING,
    DownMark,
    Figure,
    VmAvailability,
    VmEvidence,
    aggregate,
    answered_spans,
    assess,
    compare,
    gaps_to_spans,
    intersect,
    merge,
    month_periods,
    pct_shown,
    split_evidence,
    subtract,
)

SH = dt.timezone(dt.timedelta(hours=8))


def t(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> int:
    return int(dt.datetime(y, m, d, hh, mm, tzinfo=SH).timestamp())


def minutes(start: int, end: int, *, skip: tuple[int, int] | None = None) -> list[int]:
    return [x for x in range(start, end, 60) if not (skip and skip[0] <= x < skip[1])]


def test_span_algebra() -> None:
    a = merge([(0, 10), (5, 20), (30, 40), (40, 41)])
    assert a == [(0, 20), (30, 41)]
    assert intersect(a, [(15, 35)]) == [(15, 20), (30, 35)]
    assert subtract(a, [(5, 8), (19, 31)]) == [(0, 5), (8, 19), (31, 41)]
    assert subtract([(0, 10)], []) == [(0, 10)]


def test_silence_under_a_listening_collector_is_downtime_and_jitter_is_not() -> None:
    d0, d1 = t(2023, 3, 5), t(2023, 3, 6)
    down = (t(2023, 3, 5, 14, 5), t(2023, 3, 5, 14, 47))
    ts = minutes(d0, d1, skip=down)
    ts.remove(t(2023, 3, 5, 3, 0))  # one lost scrape: jitter
    ts = [x + 7 if (x // 60) % 5 == 1 else x for x in ts]  # every 5th scrape 7 s late
    ev = VmEvidence("vm-1", [(d0, d1)], [(d0, d1)], answered_spans(ts, 60))
    va = assess(ev, (d0, d1))
    assert va.down_s == 42 * 60
    assert [(i.start, i.end) for i in va.incidents] == [down]
    assert va.gap_s == 0 and va.up_s + va.down_s == 86400


def test_collector_outage_is_a_gap_not_downtime() -> None:
    d0, d1 = t(2023, 3, 5), t(2023, 3, 6)
    outage = (t(2023, 3, 5, 8), t(2023, 3, 5, 12))
    ts = minutes(d0, d1, skip=outage)  # no samples while the collector is silent
    listening = subtract([(d0, d1)], [outage])
    va = assess(VmEvidence("vm-1", [(d0, d1)], listening, answered_spans(ts, 60)), (d0, d1))
    assert va.down_s == 0 and va.incidents == ()
    assert va.gap_s == 4 * 3600
    assert va.availability == 1


def test_explicit_marks_win_and_name_the_cause() -> None:
    d0, d1 = t(2023, 3, 5), t(2023, 3, 5, 1)
    ts = minutes(d0, d1)  # libvirt still reports the domain (cpu 0) while it is shut off
    mark = DownMark(t(2023, 3, 5, 0, 10), t(2023, 3, 5, 0, 20), CAUSE_NOT_RUNNING)
    va = assess(VmEvidence("vm-1", [(d0, d1)], [(d0, d1)], answered_spans(ts, 60), [mark]))
    assert va.down_s == 600
    assert va.incidents[0].cause == CAUSE_NOT_RUNNING


def test_incident_across_a_month_boundary_splits_in_the_policy_zone() -> None:
    start, end = t(2023, 3, 1), t(2023, 5, 1)
    down = (t(2023, 3, 31, 23, 30), t(2023, 4, 1, 0, 45))  # Shanghai time
    ts = minutes(start, end, skip=down)
    ev = VmEvidence("vm-1", [(start, end)], [(start, end)], answered_spans(ts, 60))
    periods = month_periods(start, end, "Asia/Shanghai")
    assert [m for m, _ in periods] == [dt.date(2023, 3, 1), dt.date(2023, 4, 1)]
    parts = dict(split_evidence(ev, periods))
    march, april = parts[dt.date(2023, 3, 1)], parts[dt.date(2023, 4, 1)]
    assert march.down_s == 30 * 60 and april.down_s == 45 * 60
    assert march.incidents[0].end == april.incidents[0].start == t(2023, 4, 1)
    assert not march.incidents[0].before_gap and not april.incidents[0].after_gap
    assert march.up_s + march.down_s == 31 * 86400


def test_gaps_form_matches_samples_form() -> None:
    ts = [0, 60, 120, 600, 660, 2000]
    from_samples = answered_spans(ts, 60)
    assert from_samples == gaps_to_spans(0, 2000, [(120, 600), (660, 2000)], 60)


def test_figures_never_round_up_across_a_target() -> None:
    fig = Figure(up_s=999_499, down_s=501)  # 99.9499 %
    assert pct_shown(fig.availability) == Decimal("99.9499")
    check = compare(fig, Decimal("99.95"))
    assert check.met is False and check.shortfall_pct == Decimal("0.0001")
    assert compare(Figure(up_s=9995, down_s=5), Decimal("99.95")).met is True
    assert compare(Figure(gap_s=10), Decimal("99.95")).met is None


def test_aggregate_is_vm_time_weighted() -> None:
    a = VmAvailability("a", (0, 100), 90, 10, 0)
    b = VmAvailability("b", (0, 100), 300, 0, 50)
    fig = aggregate([a, b])
    assert fig.availability == Fraction(390, 400) and fig.coverage == Fraction(400, 450)
