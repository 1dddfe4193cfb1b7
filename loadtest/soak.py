"""Fault soak: steady ingest for ~10 minutes while the worker, the broker and ClickHouse die.

    make soak            (or: python loadtest/soak.py --minutes 10)

What runs (all on loopback, in a fresh folder):
  * a ClickHouse 18.16 server (cloudtally.devtools.clickhouse_server), the store;
  * the embedded broker as ``cloudtally up`` runs it: Tansu on s3rver, restarted by
    the same BrokerSupervisor;
  * one ``cloudtally worker --with-api`` process, restarted by this script when it dies;
  * a collector thread: the simulator's fleet and producer at a steady rate (one
    interval of every VM per tick, simulated time running ahead of the wall clock).
Faults, at random (seeded): kill -9 or SIGTERM of the worker (restarted), of Tansu,
or of s3rver and Tansu together (the supervisor restarts them), a wedge (SIGSTOP of
Tansu or of s3rver: alive, serving nothing; the supervisor must notice it within
``--wedge-after`` seconds and restart it), and kill -9 of the ClickHouse
server (restarted after 5–20 s); plus one ClickHouse outage of ``--long-outage`` seconds
(default 240) in the middle, halfway through which the worker is stopped with
SIGTERM while it holds a batch and a new one starts while the store is down.
Then the collector stops, the pipeline drains, and the script prints samples sent,
stored, duplicated, lost (the goal is 0 and 0) and writes them, with every fault, to
loadtest/results/soak-<time>.json.

Definitions: *sent* = distinct (vm_id, ts) samples the collector produced and the broker
acknowledged; *stored* = distinct keys of those in ``samples``; *lost* = sent - stored;
*duplicated* = rows a reader sees twice (``count() FINAL`` - distinct keys);
*redelivered rows* = raw rows beyond one per key (re-sent or re-consumed batches that
the ReplacingMergeTree key collapses; not an error, reported for information).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import RESULTS, free_port

START = int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp())


@dataclass
class Fault:
    at_s: float
    kind: str
    down_s: float = 0.0
    note: str = ""


@dataclass
class Collector:
    """The simulator's fleet and SampleProducer at a steady rate, in a thread."""

    bootstrap: str
    topic: str
    vms: int
    rate: float
    interval: int = 60
    sent: int = 0  # good samples produced and acknowledged (flushed)
    ticks: int = 0
    sim_end: int = START
    error: str = ""
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import numpy as np

        from cloudtally.collectors.fleet import Fleet
        from cloudtally.collectors.producer import SampleProducer
        from cloudtally.collectors.simulate import _send_range as send_range
        from cloudtally.core.samples import partition_for

        try:
            horizon = START + 30 * 86_400
            fleet = Fleet.build(11, self.vms, 2, 20, start=START, end=horizon)
            sp = SampleProducer(self.bootstrap, self.topic, source="soak")
            parts = np.array([partition_for(v, sp.partitions) for v in fleet.vm_ids], np.int32)
            sp.use_vm_ids(fleet.vm_ids)
            period = self.vms / self.rate  # one interval of every VM per tick
            t, next_tick = START, time.monotonic()
            while not self.stop.is_set():
                send_range(fleet, sp, parts, t, t + self.interval, self.interval)
                t += self.interval
                self.ticks += 1
                if self.ticks % 20 == 0:
                    sp.flush()  # blocks while the broker is down: backpressure, not loss
                    self.sent, self.sim_end = sp.good_rows, t
                next_tick += period
                self.stop.wait(max(0.0, next_tick - time.monotonic()))
            sp.flush()
            self.sent, self.sim_end = sp.good_rows, t
            sp.close()
        except Exception as exc:  # reported in the result; the soak then fails loudly
            self.error = repr(exc)
            raise


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = Path(tempfile.mkdtemp(prefix="cloudtally-soak-"))
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True)
        self.faults: list[Fault] = []
        self.t0 = time.monotonic()
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_exits = 0

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def say(self, text: str) -> None:
        print(f"[{self.now():7.1f}s] {text}", flush=True)

    # ---------------------------------------------------------------- processes
    def start_worker(self) -> None:
        env = {**os.environ, **self.settings.as_env(), "CLOUDTALLY_API_AUTH": "false"}
        from cloudtally.broker.child import die_with_parent

        self.worker = subprocess.Popen(
            [sys.executable, "-m", "cloudtally.cli", "worker", "--with-api"],
            env=env,
            stdout=(self.logs / "worker.log").open("ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # from the main thread: gone if the soak is killed
        )

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()
        down = self.rng.uniform(1, 3)
        self.faults.append(Fault(self.now(), "worker kill -9", down))
        self.say(f"kill -9 worker (restart in {down:.1f}s)")
        time.sleep(down)
        self.start_worker()

    def stop_worker(self, why: str) -> None:
        """SIGTERM (a graceful stop, as an operator or Kubernetes does), then a new worker.

        The case of issue #11: a worker stopped while it holds a batch for a down store
        committed past it, and its successor skipped that batch."""
        assert self.worker is not None
        t = time.monotonic()
        self.worker.send_signal(signal.SIGTERM)
        try:
            self.worker.wait(60)
            note = f"stopped in {time.monotonic() - t:.1f}s, code {self.worker.returncode}"
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait()
            note = "did not stop in 60s: killed"
        self.faults.append(Fault(self.now(), f"worker SIGTERM ({why})", note=note))
        self.say(f"SIGTERM worker ({why}): {note}; starting a new one")
        self.start_worker()

    def wedge_broker(self) -> None:
        """SIGSTOP Tansu or s3rver: alive but serving nothing, until the supervisor notices."""
        stack = self.stack
        name = "s3rver" if stack.s3 is not None and self.rng.random() < 0.5 else "broker"
        part = stack.s3 if name == "s3rver" else stack.broker
        assert part is not None and part.pid is not None
        comp = self.supervisor.status.components[name]
        before = comp.wedges
        what = f"{'s3rver' if name == 's3rver' else 'Tansu'} SIGSTOP (wedge)"
        self.say(what)
        os.kill(part.pid, signal.SIGSTOP)
        t = time.monotonic()
        limit = self.args.wedge_after * 3 + 60
        while comp.wedges == before and time.monotonic() - t < limit:
            self.idle(1)
        noticed = comp.wedges > before
        self.faults.append(
            Fault(
                self.now(),
                what,
                round(time.monotonic() - t, 1),
                "restarted by the supervisor" if noticed else "NOT noticed",
            )
        )
        if not noticed:
            self.say(f"{what}: the supervisor did not notice in {limit:.0f}s")
            os.kill(part.pid or 0, signal.SIGCONT)

    def kill_broker(self) -> None:
        draw = self.rng.random()
        if draw < 0.2:
            self.wedge_broker()
            return
        both = draw < 0.45
        stack = self.stack
        if both and stack.s3 is not None:
            os.kill(stack.s3.pid or 0, signal.SIGKILL)
        os.kill(stack.broker.pid or 0, signal.SIGKILL)
        what = "s3rver + Tansu kill -9" if both else "Tansu kill -9"
        t = time.monotonic()
        while stack.broker.running():
            time.sleep(0.05)
        self.supervisor.check()
        self.faults.append(Fault(self.now(), what, round(time.monotonic() - t, 1)))
        self.say(what)

    def clickhouse_outage(self, down: float, kind: str, *, stop_worker: bool = False) -> None:
        proc = self.ch.proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.ch.proc = None
        self.faults.append(Fault(self.now(), kind, round(down, 1)))
        self.say(f"{kind}: ClickHouse down for {down:.0f}s")
        if stop_worker:  # halfway: stop the worker holding a batch, start one that waits
            self.idle(down / 2)
            self.stop_worker("holding a batch during the outage")
            down /= 2
        self.idle(down)
        self.ch.start()
        self.say("ClickHouse back")

    def idle(self, seconds: float) -> None:
        """Wait, keeping the supervisor and the worker's keeper running."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.supervisor.check()
            if self.worker is not None and self.worker.poll() is not None:
                self.worker_exits += 1
                self.say(f"worker exited by itself (code {self.worker.returncode}); restarting")
                self.faults.append(
                    Fault(self.now(), "worker exited", note=str(self.worker.returncode))
                )
                self.start_worker()
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))

    # ---------------------------------------------------------------- the run
    def run(self) -> dict[str, Any]:
        from cloudtally.broker.stack import BrokerStack
        from cloudtally.broker.supervisor import BrokerSupervisor
        from cloudtally.broker.topics import ensure_topics
        from cloudtally.devtools.clickhouse_server import ClickHouseServer
        from cloudtally.settings import Settings
        from cloudtally.store import open_store
        from cloudtally.store.migrate import migrate

        a = self.args
        self.ch = ClickHouseServer(self.work / "clickhouse").start()
        store_url = f"{self.ch.url}/soak"
        with open_store(store_url, "soak") as store:
            migrate(store)
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=self.work,
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            broker_storage="s3",
            broker_s3_port=free_port(),
            store_url=store_url,
            database="soak",
            api_port=free_port(),
            derive_enabled=False,
        )
        duration = a.minutes * 60
        long_at = duration * 0.35
        self.stack = BrokerStack(self.settings, self.logs).start()
        try:
            ensure_topics(self.settings)
            self.supervisor = BrokerSupervisor(
                self.stack,
                say=lambda m: self.say(m),
                after_broker_start=lambda: ensure_topics(self.settings),
                wedge_after_s=a.wedge_after,
            )
            self.start_worker()
            self.t0 = time.monotonic()  # the soak's clock starts with the ingest
            collector = Collector(self.stack.bootstrap, self.settings.topic_samples, a.vms, a.rate)
            thread = threading.Thread(target=collector.run, name="collector", daemon=True)
            thread.start()
            self.say(f"ingest at {a.rate:.0f} samples/s for {a.minutes} min; data in {self.work}")
            long_done = False
            while self.now() < duration:
                self.idle(self.rng.expovariate(1 / a.kill_every))
                if self.now() >= duration:
                    break
                if not long_done and self.now() >= long_at:
                    self.clickhouse_outage(
                        a.long_outage, "ClickHouse long outage (kill -9)", stop_worker=True
                    )
                    long_done = True
                    continue
                kind = self.rng.choice(("worker", "broker", "clickhouse"))
                if kind == "worker" and self.rng.random() < 0.5:
                    self.stop_worker("at random")
                elif kind == "worker":
                    self.kill_worker()
                elif kind == "broker":
                    self.kill_broker()
                else:
                    self.clickhouse_outage(self.rng.uniform(5, 20), "ClickHouse kill -9")
            self.say("stopping the collector; draining")
            collector.stop.set()
            while thread.is_alive():
                self.idle(1)
            result = self.drain(collector, store_url)
        finally:
            if self.worker is not None and self.worker.poll() is None:
                self.worker.terminate()
                self.worker.wait(60)
            if hasattr(self, "supervisor"):
                self.supervisor.close()
            self.stack.stop()
            self.ch.stop()
        return result

    def drain(self, collector: Collector, store_url: str) -> dict[str, Any]:
        from cloudtally.store import open_store

        store = open_store(store_url, "soak")
        last, still = -1, time.monotonic()
        keys_sql = "SELECT uniqExact(vm_id, ts) FROM samples"
        while True:
            self.idle(5)
            stored = int(store.scalar(keys_sql))
            if stored >= collector.sent:
                break
            if stored != last:
                last, still = stored, time.monotonic()
            elif time.monotonic() - still > self.args.drain_timeout:
                self.say(
                    f"no progress for {self.args.drain_timeout}s: {stored} of {collector.sent}"
                )
                break
        raw, keys = store.rows("SELECT count(), uniqExact(vm_id, ts) FROM samples")[0]
        final = int(store.scalar("SELECT count() FROM samples FINAL"))
        store.close()
        counts = {
            "sent": collector.sent,
            "stored": int(keys),
            "duplicated": final - int(keys),
            "lost": collector.sent - int(keys),
            "redelivered_rows": int(raw) - int(keys),
        }
        return {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "args": vars(self.args),
            **counts,
            "collector_error": collector.error,
            "simulated_until": dt.datetime.fromtimestamp(collector.sim_end, dt.UTC).isoformat(),
            "worker_exits_by_itself": self.worker_exits,
            "broker_restarts": {
                k: c.restarts for k, c in self.supervisor.status.components.items()
            },
            "broker_wedges": {k: c.wedges for k, c in self.supervisor.status.components.items()},
            "faults": [asdict(f) for f in self.faults],
            "wall_s": self.now(),
            "data_folder": str(self.work),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--vms", type=int, default=500)
    ap.add_argument("--rate", type=float, default=2000, help="samples per second sent")
    ap.add_argument("--kill-every", type=float, default=40, help="mean seconds between faults")
    ap.add_argument("--long-outage", type=float, default=240, help="ClickHouse outage, seconds")
    ap.add_argument("--drain-timeout", type=float, default=180, help="give up after no progress")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--wedge-after", type=float, default=20, help="supervisor's CLOUDTALLY_BROKER_WEDGE_S"
    )
    args = ap.parse_args()
    result = Soak(args).run()
    keys = ("sent", "stored", "duplicated", "lost", "redelivered_rows")
    print("\n" + "  ".join(f"{k}: {result[k]:,}" for k in keys))
    print("faults:", len(result["faults"]), "| broker restarts:", result["broker_restarts"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"soak-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    sys.exit(0 if result["lost"] == 0 and result["duplicated"] == 0 else 1)


if __name__ == "__main__":
    main()
