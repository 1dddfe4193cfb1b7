"""Collector throughput: generate, encode, and produce into Kafka (Tansu by default).

    python -m cloudtally.collectors.bench --vms 5000 --hours 6 --interval 60

Starts its own embedded Tansu on a free port unless ``--bootstrap`` is given.
Prints samples/s for each stage and the same figures as JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
import uuid
from typing import Any

from cloudtally.collectors.fleet import Fleet
from cloudtally.core.samples import encode_batch
from cloudtally.settings import Settings

START = 1_761_926_400  # 2025-11-01 00:00 Asia/Shanghai


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(vms: int, hours: float, interval: int, bootstrap: str | None) -> dict[str, float]:
    end = START + int(hours * 3600)
    fleet = Fleet.build(1, vms, 2, max(1, vms // 50), start=START, end=end)

    t = time.perf_counter()
    n = sum(len(c.samples) for c in fleet.samples(START, end, interval))
    gen_s = time.perf_counter() - t

    t = time.perf_counter()
    n_bytes = 0
    for c in fleet.samples(START, end, interval):
        s = c.samples
        for i in range(0, len(s), 2000):
            sl = slice(i, i + 2000)
            n_bytes += len(
                encode_batch(
                    "simulate", s.vm_id[sl].tolist(), s.ts[sl], s.cpu_pct[sl], s.mem_pct[sl]
                )
            )
    enc_s = time.perf_counter() - t

    out = {
        "samples": n,
        "generate_samples_per_s": n / gen_s,
        "generate_encode_samples_per_s": n / enc_s,
        "bytes_per_sample": n_bytes / n,
    }
    out.update(_produce(vms, end, interval, bootstrap))
    return out


def _produce(vms: int, end: int, interval: int, bootstrap: str | None) -> dict[str, float]:
    from cloudtally.collectors.simulate import run

    tag = uuid.uuid4().hex[:8]
    topics: dict[str, Any] = dict(
        topic_samples=f"bench-samples-{tag}",
        topic_inventory=f"bench-inv-{tag}",
        topic_dead_letter=f"bench-dl-{tag}",
        topic_alerts=f"bench-alerts-{tag}",
    )
    if bootstrap:
        settings = Settings(_env_file=None, kafka_bootstrap=bootstrap, **topics)  # type: ignore[call-arg]
        report = run(
            settings,
            seed=1,
            vms=vms,
            pools=2,
            bureaus=max(1, vms // 50),
            start=START,
            end=end,
            interval=interval,
        )
    else:
        from cloudtally.broker.embedded import EmbeddedBroker

        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            kafka_bootstrap=f"127.0.0.1:{_free_port()}",
            **topics,
        )
        with tempfile.TemporaryDirectory() as d, EmbeddedBroker(settings, d):
            report = run(
                settings,
                seed=1,
                vms=vms,
                pools=2,
                bureaus=max(1, vms // 50),
                start=START,
                end=end,
                interval=interval,
            )
    return {
        "produce_samples_per_s": report.good_samples / report.seconds,
        "produce_messages": report.messages,
        "produce_seconds": report.seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vms", type=int, default=5000)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--bootstrap", default=None, help="existing broker instead of a new Tansu")
    a = ap.parse_args()
    r = measure(a.vms, a.hours, a.interval, a.bootstrap)
    print(f"samples: {r['samples']:,}")
    print(f"generate:          {r['generate_samples_per_s']:>12,.0f} samples/s")
    print(
        f"generate + encode: {r['generate_encode_samples_per_s']:>12,.0f} samples/s "
        f"({r['bytes_per_sample']:.1f} B/sample)"
    )
    print(
        f"produce to Kafka:  {r['produce_samples_per_s']:>12,.0f} samples/s "
        f"({r['produce_messages']} messages, inventory included)"
    )
    print(json.dumps(r))


if __name__ == "__main__":
    main()
