"""The interval in force: beats and samples are judged at the interval of their time,
not the largest a source ever declared; a VM is not expected before its first scrape."""

from __future__ import annotations

from cloudtally.core.availability import (
    answered_from_silences,
    heard_spans,
    interval_at,
    source_interval_at,
)


def test_interval_at_follows_the_runs() -> None:
    runs = [(0, 300), (3600, 60)]
    assert interval_at(runs, -5, 30) == 300  # before the first sample: the first declared
    assert interval_at(runs, 3599, 30) == 300
    assert interval_at(runs, 3600, 30) == 60
    assert interval_at([], 10, 30) == 30


def test_a_beat_is_extended_by_the_interval_scraped_then() -> None:
    # 300 s samples in hour 0, 60 s from 3600: the last beat reaches 60 s past its end.
    buckets = [(0, 3300, 300), (3600, 7140, 60)]
    assert heard_spans([(6600, 7140)], buckets, 60) == [(6600, 7200)]
    assert heard_spans([(0, 300)], buckets, 60) == [(0, 600)]
    # A beat 4 min after a 60 s source stopped: not covered by the old 300 s.
    assert heard_spans([(6000, 6540)], buckets, 60) == [(6000, 6600)]


def test_a_source_mixing_intervals_is_looking_at_its_shortest() -> None:
    buckets = [(0, 2700, 900), (0, 3540, 60), (3600, 6300, 900)]
    assert source_interval_at(buckets, 3540, 30) == 60
    # The 60 s VMs fell silent after 3540: the 900 s ones are still in force.
    assert source_interval_at(buckets, 5000, 30) == 900
    # Long after every bucket: the last one begun.
    assert source_interval_at(buckets, 99_999, 30) == 900


def test_each_sample_answers_its_own_interval() -> None:
    runs = [(0, 300), (3600, 60)]
    spans = answered_from_silences(0, 7140, [(4000, 4600)], runs, 60)
    assert spans == [(0, 4060), (4600, 7200)]


def test_the_creation_edge() -> None:
    runs = [(1000, 60)]
    # Created 50 s before its first scrape: answered from creation.
    assert answered_from_silences(1000, 1120, [], runs, 60, created=950)[0] == (950, 1180)
    # First sample three intervals after creation: a silence, down in full.
    assert answered_from_silences(1000, 1120, [], runs, 60, created=820)[0] == (1000, 1180)
    assert answered_from_silences(1000, 1120, [], runs, 60, created=821)[0] == (821, 1180)
