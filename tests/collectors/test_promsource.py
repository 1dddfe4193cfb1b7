"""Source files, window splitting, resume points and heartbeats (no servers)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from cloudtally.collectors.prometheus import resume_point, windows
from cloudtally.collectors.promsource import PROMETHEUS_MAX_POINTS, PromSource, load_source
from cloudtally.core.heartbeat import (
    Heartbeat,
    HeartbeatRejected,
    decode_heartbeat,
    is_heartbeat,
    watermark,
)
from cloudtally.core.samples import encode_batch


def test_windows_never_ask_more_than_max_points_and_cover_the_range_once() -> None:
    ws = windows(0, 60 * 25_000, 60, PROMETHEUS_MAX_POINTS)
    points = [(b - a) // 60 + 1 for a, b in ws]
    assert max(points) <= PROMETHEUS_MAX_POINTS and sum(points) == 25_001
    assert all(b + 60 == c for (_, b), (c, _) in itertools.pairwise(ws))


def test_resume_is_on_the_step_grid_after_the_watermark() -> None:
    src = PromSource(source="x", server="http://p:9090", preset="node_exporter", step=60)
    assert resume_point(src, 1_000_030, None) == 1_000_080  # --from rounded up to the grid
    assert resume_point(src, 1_000_030, 1_000_200) == 1_000_260
    assert resume_point(src, 1_000_030, 900_000) == 1_000_080  # an old watermark: --from


def test_preset_queries_use_the_vm_label_and_the_file_overrides(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "source: dc1\nserver: http://p:9090\npreset: libvirt_exporter\nstep: 1m\n"
        "rate_window: 5m\nmetrics:\n  mem_pct: {query: 'my_mem{x=\"1\"}'}\n"
    )
    src = load_source(f)
    q = src.queries()
    assert src.step == 60 and src.label == "domain" and src.name == "prometheus:dc1"
    assert "by (domain)" in q["cpu_pct"].query and "[300s]" in q["cpu_pct"].query
    assert q["mem_pct"].query == 'my_mem{x="1"}'
    f.write_text("source: dc1\nserver: http://p:9090\nmax_points: 20000\n")
    with pytest.raises(SystemExit, match="max_points"):
        load_source(f)
    f.write_text("source: dc1\nserver: http://p:9090\n")
    with pytest.raises(SystemExit, match="no query for cpu_pct"):
        load_source(f)


def test_heartbeats_round_trip_and_bad_ones_are_rejected() -> None:
    beat = Heartbeat("prometheus:dc1", 2, 100, 0, 60, samples=5, allocation=(("vm", 4.0, 7.7),))
    raw = beat.to_json()
    assert is_heartbeat(raw) and decode_heartbeat(raw) == beat
    assert not is_heartbeat(encode_batch("x", ["vm"], [1_700_000_000], [1.0], [2.0]))
    with pytest.raises(HeartbeatRejected, match="data_until"):
        decode_heartbeat(raw.replace(b'"data_until":60', b'"data_until":-1'))
    with pytest.raises(HeartbeatRejected, match="allocation"):
        decode_heartbeat(raw.replace(b'["vm",4.0,7.7]', b'["vm","four",7.7]'))
    assert watermark({0: 50, 1: 70}, range(2)) == 50
    assert watermark({0: 50}, range(2)) is None
