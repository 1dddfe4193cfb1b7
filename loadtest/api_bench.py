"""The API under 50 concurrent users, with ingest running, embedded or cluster mode.

Fixture: the console benchmark's Hainan month (15,000 VMs, 300 bureaus, ~1.6 M bill
lines; ``console_bench.py --fixture DIR`` seeds it once and keeps it). Then:

* **embedded** (chDB): one server process owns the store, as ``cloudtally up``'s worker
  does: it serves the API with uvicorn and runs an ingest thread that inserts sample
  batches (20,000 samples, the sink's insert) into the same store as fast as it can.
* **cluster** (``--mode cluster``): a ClickHouse 18.16 server, ``--replicas`` separate
  ``cloudtally api`` processes against it, and an ingest process inserting into it.
  The fixture is seeded into the server (``--vms``, default 15,000).

Each ingest pace (``--paces``, default 10,000 samples/s, then as fast as the store takes
them) is measured in turn. Phase 1 measures the ingest rate alone; phase 2 runs
``--clients`` asyncio clients (aiohttp; 90 % bureau tokens, 10 % the buyer, spread over
the replicas) for ``--seconds`` over a mix of bureau statement, bill lines (pages),
utilization, idle and rightsizing candidates and a verified invoice's findings, and
prints p50 / p95 / p99 and requests/s per route and in all, next to the goals (p95 ≤ 100
ms, ≥ 500 req/s, ingest slowed ≤ 10 %), with the ingest rate during the load and the
ratio.
``--revalidating`` (default half) of the clients send ``If-None-Match`` with the ETag
they last got, as browsers do; figures are also given per kind of answer: 304, kept,
computed for the request (``X-Cloudtally-Answer``), and uncached routes (findings).
Writes loadtest/results/api-<mode>-latest.json (flat-out ingest) and
api-<mode>-paced-latest.json. Flat out, the ingest alone keeps both cores busy, so the
ratio is the API's CPU share; paced, it says whether the ingest keeps up under load.

Usage: python loadtest/api_bench.py --fixture /tmp/console-fixture [--mode cluster]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOAL_P95_MS, GOAL_RPS, GOAL_INGEST_RATIO = 100.0, 500.0, 0.9
BATCH = 20_000
PAGES = 3  # bill-line pages a client asks for
INGEST_T0 = int(dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp())  # outside the fixture

ROUTES: dict[str, tuple[float, str]] = {  # name -> (weight, path with {page})
    "statement": (0.3, "/api/v1/billing/statements?month=2023-01&by=system"),
    "lines": (0.25, "/api/v1/billing/lines?month=2023-01&limit=100&offset={page}"),
    "utilization": (0.2, "/api/v1/utilization?level=vm&month=2023-01&limit=100"),
    "idle": (0.1, "/api/v1/utilization/candidates/idle?as_of=2023-02-01&limit=100"),
    "findings": (0.1, "/api/v1/invoices/{invoice}/findings?limit=100"),
    "rightsizing": (
        0.05,
        "/api/v1/utilization/candidates/rightsizing?day_from=2023-01-18&day_to=2023-02-01"
        "&limit=100",
    ),
}


def ensure_invoice(store: Any, work: Path) -> tuple[str, dict[str, float]]:
    """provider-a's January 2023 invoice with planted errors, imported and verified (once)."""
    from cloudtally.invoices import store as inv_store
    from cloudtally.invoices.generator import generate_invoice, render_provider_csv
    from cloudtally.invoices.importer import import_invoice
    from cloudtally.invoices.service import verify_invoice

    known = store.scalar("SELECT any(invoice_id) FROM invoices WHERE provider = 'provider-a'")
    if known:
        return str(known), {}
    sh = dt.timezone(dt.timedelta(hours=8))
    period = (dt.datetime(2023, 1, 1, tzinfo=sh), dt.datetime(2023, 2, 1, tzinfo=sh))
    c = time.perf_counter()
    expected, vms, _ = inv_store.load_expected(store, "provider-a", period)
    lines, _ = generate_invoice(expected, vms, errors=["Q1", "U1", "R2", "B1", "D1"])
    path = work / "invoice.csv"
    path.write_bytes(render_provider_csv(lines))
    res = import_invoice(store, path, provider="provider-a")
    verify_invoice(store, res.invoice_id)
    return res.invoice_id, {"invoice_lines": len(lines), "invoice_s": time.perf_counter() - c}


# ---------------------------------------------------------------- ingest (server side)


def pace_of(counter: Path) -> float:
    """The ingest's pace the parent asked for (``<counter>.pace``; absent: flat out)."""
    try:
        return float(counter.with_suffix(".pace").read_text())
    except (OSError, ValueError):
        return 0.0


def ingest_loop(store: Any, counter: Path, stop: threading.Event, vms: int) -> None:
    """Insert sample batches into the store; the count goes to ``counter``.

    Pace 0: as fast as the store takes them (the contention case: the ingest alone keeps
    both cores busy, so any CPU the API uses is ingest lost). Pace > 0: that many
    samples/s, as collectors deliver them; the question is then whether the ingest keeps
    up while the API is under load, and what it costs the API.
    """
    ids = np.array([f"vm-{i}" for i in range(vms)], dtype=object)
    rows, last, rate = 0, 0.0, -1.0
    while not stop.is_set():
        if (now := pace_of(counter)) != rate:  # a new pace starts counting from here
            rate, start, rows0 = now, time.monotonic(), rows
            batch = BATCH if rate <= 0 else int(min(BATCH, max(100, rate)))  # ~1 s paced
        if rate > 0:  # the next batch is due when the previous ones' samples are
            due = start + (rows - rows0) / rate
            if (wait := due - time.monotonic()) > 0:
                stop.wait(min(wait, 0.5))
                if time.monotonic() < due:
                    continue
        n = rows + np.arange(batch)
        vm, ts = ids[n % vms], INGEST_T0 + 60 * (n // vms)
        store.insert("samples", {
            "vm_id": vm, "ts": ts.astype(np.int64),
            "cpu_pct": np.full(batch, 12.5, dtype=np.float32),
            "mem_pct": np.full(batch, 40.0, dtype=np.float32),
            "source": np.full(batch, "bench", dtype=object),
            "version": np.ones(batch, dtype=np.uint64),
        })  # fmt: skip
        rows += batch
        if time.monotonic() - last > 0.5 or rate > 0:
            counter.write_text(json.dumps({"rows": rows, "t": time.monotonic(),
                                           "tid": threading.get_native_id()}))  # fmt: skip
            last = time.monotonic()


def serve(args: argparse.Namespace) -> None:
    """Child process: the API (and, embedded, the ingest thread) over one store."""
    import uvicorn

    from cloudtally.api.main import create_api
    from cloudtally.settings import Settings
    from cloudtally.store import open_store

    store = open_store(args.store_url, "bench_console")
    stop = threading.Event()
    if args.ingest:
        threading.Thread(target=ingest_loop, args=(store, Path(args.counter), stop, args.vms),
                         daemon=True).start()  # fmt: skip
    if args.port:
        settings = Settings(_env_file=None, api_tokens_file=Path(args.tokens),  # type: ignore[call-arg]
                            data_dir=Path(args.tokens).parent)  # fmt: skip
        uvicorn.run(create_api(settings, lambda: store), host="127.0.0.1", port=args.port,
                    log_level="warning")  # fmt: skip
    else:
        while True:
            time.sleep(1)


# ---------------------------------------------------------------- clients


def pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else float("nan")


async def run_clients(
    bases: list[str],
    tokens: list[str],
    seconds: float,
    clients: int,
    invoice: str,
    revalidating: float = 0.0,
) -> dict[str, Any]:
    import aiohttp

    lat: dict[str, list[float]] = {k: [] for k in ROUTES}
    kinds: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: dict[str, int] = {}
    held: dict[tuple[int, str], str] = {}  # (client, url) → the ETag a browser client holds
    names, weights = list(ROUTES), [w for w, _ in ROUTES.values()]
    # aiohttp, not httpx: httpx's connection pool served ~50 requests/s here with 50
    # clients, aiohttp ~600 (the load generator must not be what is measured)
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def get(i: int, name: str, page: int) -> None:
            base, token = bases[i % len(bases)], tokens[i % len(tokens)]
            url = base + ROUTES[name][1].format(page=100 * page, invoice=invoice)
            headers = {"Authorization": f"Bearer {token}"}
            browser = i < revalidating * clients  # sends If-None-Match like a browser
            if browser and (i, url) in held:
                headers["If-None-Match"] = held[(i, url)]
            c = time.perf_counter()
            kind = "error"
            try:
                async with http.get(url, headers=headers) as r:
                    await r.read()
                status = str(r.status)
                kind = answer_kind(r.status, r.headers.get("x-cloudtally-answer"))
                if browser and "etag" in r.headers:
                    held[(i, url)] = r.headers["etag"]
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            ms = (time.perf_counter() - c) * 1000
            lat[name].append(ms)
            kinds[kind].append(ms)
            if status not in ("200", "304"):
                errors[f"{name} {status}"] = errors.get(f"{name} {status}", 0) + 1

        async def one(i: int, deadline: float) -> None:
            rnd = random.Random(i)
            while time.monotonic() < deadline:
                await get(i, rnd.choices(names, weights)[0], rnd.randrange(PAGES))

        async def warm(i: int) -> None:
            for name in names:
                for page in range(PAGES if "{page}" in ROUTES[name][1] else 1):
                    await get(i, name, page)

        # warm-up: every client asks every route (and page) once; the first answers are
        # computed, later ones kept until the data changes (the steady state measured)
        c = time.perf_counter()
        await asyncio.gather(*(warm(i) for i in range(clients)))
        warm_s = time.perf_counter() - c
        warm_all = sorted(x for v in lat.values() for x in v)
        warm_errors = dict(errors)
        warm_kinds = {k: summary(v, warm_s) for k, v in kinds.items()}
        errors.clear()
        for v in [*lat.values(), *kinds.values()]:
            v.clear()
        start = time.monotonic()
        await asyncio.gather(*(one(i, start + seconds) for i in range(clients)))
        took = time.monotonic() - start
    out: dict[str, Any] = {"warmup_s": round(warm_s, 1), "errors": errors,
                           "warmup_errors": warm_errors,
                           "warmup_p95_ms": round(pct(warm_all, 0.95), 1)}  # fmt: skip
    every = sorted(x for v in lat.values() for x in v)
    for name, v in [*lat.items(), ("all", every)]:
        out[name] = summary(v, took)
    out["by_answer"] = {k: summary(v, took) for k, v in kinds.items()}
    out["warmup_by_answer"] = warm_kinds
    return out


# How an answer was served: a 304 (the client's ETag matched), a kept answer, one computed
# for this request (X-Cloudtally-Answer), or a route that keeps nothing (invoice findings).
KINDS = ("not_modified", "kept", "computed", "uncached", "error")


def answer_kind(status: int, answer: str | None) -> str:
    if status == 304:
        return "not_modified"
    if status != 200:
        return "error"
    return answer if answer in ("kept", "computed") else "uncached"


def summary(v: list[float], took: float) -> dict[str, float]:
    v.sort()
    return {"requests": len(v), "rps": round(len(v) / took, 1) if took else 0.0,
            "p50_ms": round(pct(v, 0.5), 1), "p95_ms": round(pct(v, 0.95), 1),
            "p99_ms": round(pct(v, 0.99), 1)}  # fmt: skip


def ingest_rate(counter: Path, seconds: float) -> float:
    def read() -> tuple[int, float]:
        for _ in range(100):
            try:
                d = json.loads(counter.read_text())
                return int(d["rows"]), float(d["t"])
            except (OSError, ValueError):
                time.sleep(0.2)
        raise RuntimeError("the ingest never reported")

    r0, t0 = read()
    time.sleep(seconds)
    r1, t1 = read()
    return (r1 - r0) / (t1 - t0) if t1 > t0 else float("nan")


def cpu_parts(procs: list[Any], counter: Path, server: Any, mode: str) -> Any:
    """The processes (and, embedded, the ingest thread) whose CPU each phase counts."""
    from cpu_share import CpuShare

    share = CpuShare(processes={"bench_clients": os.getpid()}, alone={"bench_clients"})
    tid = int(json.loads(counter.read_text()).get("tid", 0)) if counter.exists() else 0
    if mode == "embedded":
        share.processes["api_rest_of_process"] = procs[0].pid
        share.threads["ingest_thread"] = (procs[0].pid, tid)
    else:
        share.processes["ingest_process"] = procs[0].pid
        for i, p in enumerate(procs[1:], 1):
            share.processes[f"api_replica_{i}"] = p.pid
        if server is not None and getattr(server, "proc", None) is not None:
            share.processes["clickhouse_server"] = server.proc.pid
    return share


def wait_http(base: str, timeout: float = 600) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(base + "/healthz", timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{base} did not answer")


def measure(
    args: argparse.Namespace,
    bases: list[str],
    tokens: list[str],
    invoice: str,
    counter: Path,
    cpu: Any,
    result: dict[str, Any],
    pace: float,
) -> None:
    """Ingest alone, then the clients with ingest, at one ingest pace; writes its file."""
    counter.with_suffix(".pace").write_text(str(pace))
    time.sleep(2)  # the ingest takes the new pace at its next batch
    result = {**result, "ingest_pace_sps": pace or None}
    what = f"paced at {pace:,.0f} samples/s" if pace else "as fast as the store takes it"
    print(f"ingest alone for {args.seconds:.0f} s, {what} ...", flush=True)
    c0 = cpu.snapshot()
    alone = ingest_rate(counter, args.seconds)
    c1 = cpu.snapshot()
    load0 = os.getloadavg()
    print(f"  {alone:,.0f} samples/s   load {load0[0]:.1f}", flush=True)
    print(f"{args.clients} clients for {args.seconds:.0f} s with ingest ...", flush=True)
    box: dict[str, float] = {}
    t = threading.Thread(target=lambda: box.update(rate=ingest_rate(counter, args.seconds)))
    t.start()
    res = asyncio.run(run_clients(bases, tokens, args.seconds, args.clients, invoice,
                                  args.revalidating))  # fmt: skip
    t.join()
    c2 = cpu.snapshot()
    result["cpu_cores"] = {"ingest_alone": cpu.between(c0, c1),
                           "with_api": cpu.between(c1, c2)}  # fmt: skip
    load1 = os.getloadavg()
    ratio = box["rate"] / alone if alone else float("nan")
    result.update(clients_result=res, ingest_alone_sps=round(alone),
                  ingest_with_api_sps=round(box["rate"]), ingest_ratio=round(ratio, 3),
                  load_average_before=load0, load_average_after=load1,
                  replicas=len(bases))  # fmt: skip
    print(f"  warm-up (every client asks every route once): {res['warmup_s']} s, "
          f"p95 {res['warmup_p95_ms']} ms, errors {res['warmup_errors']}")  # fmt: skip
    for name in [*ROUTES, "all"]:
        r = res[name]
        print(f"  {name:<12} {r['requests']:>6} req  {r['rps']:>7.1f} req/s  p50 "
              f"{r['p50_ms']:>7.1f}  p95 {r['p95_ms']:>7.1f}  "
              f"p99 {r['p99_ms']:>7.1f} ms")  # fmt: skip
    for kind in KINDS:
        r = res["by_answer"][kind]
        if r["requests"]:
            print(f"  answer {kind:<13} {r['requests']:>6} req  {r['rps']:>7.1f} req/s  "
                  f"p50 {r['p50_ms']:>7.1f}  p95 {r['p95_ms']:>7.1f} ms")  # fmt: skip
    cold = res["warmup_by_answer"]["computed"]
    print(f"  computed in the warm-up: {cold['requests']} answers, p50 {cold['p50_ms']} "
          f"p95 {cold['p95_ms']} ms")  # fmt: skip
    a = res["all"]
    print(f"  p95 {a['p95_ms']} ms (goal ≤ {GOAL_P95_MS:.0f}: "
          f"{'ok' if a['p95_ms'] <= GOAL_P95_MS else 'OVER'}); {a['rps']} req/s (goal ≥ "
          f"{GOAL_RPS:.0f}: {'ok' if a['rps'] >= GOAL_RPS else 'UNDER'})")  # fmt: skip
    print(f"  ingest {box['rate']:,.0f} samples/s with the API vs {alone:,.0f} alone: ratio "
          f"{ratio:.2f} (goal ≥ {GOAL_INGEST_RATIO}: "
          f"{'ok' if ratio >= GOAL_INGEST_RATIO else 'UNDER'}); "
          f"load {load1[0]:.1f}")  # fmt: skip
    for phase, cores in result["cpu_cores"].items():
        print(f"  cores used, {phase}: " + ", ".join(f"{k} {v}" for k, v in cores.items()))
    if res["errors"]:
        print(f"  errors: {res['errors']}")
    label = ("-paced" if pace else "") + (f"-{args.label}" if args.label else "")
    out = ROOT / f"loadtest/results/api-{args.mode}{label}-latest.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", nargs="?", default="bench", choices=["bench", "serve"])
    ap.add_argument("--fixture", type=Path, default=None)
    ap.add_argument("--mode", choices=["embedded", "cluster"], default="embedded")
    ap.add_argument("--vms", type=int, default=15000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--routes", default=",".join(ROUTES),
                    help="comma-separated subset of the route mix (weights kept)")  # fmt: skip
    ap.add_argument("--label", default="",
                    help="results to api-MODE-LABEL-latest.json (e.g. kept-routes)")  # fmt: skip
    ap.add_argument("--revalidating", type=float, default=0.5,
                    help="share of clients that send If-None-Match like a browser")  # fmt: skip
    # child options
    ap.add_argument("--store-url", default="")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tokens", default="")
    ap.add_argument("--counter", default="")
    ap.add_argument("--ingest", action="store_true")
    ap.add_argument("--paces", default="10000,0",
                    help="ingest paces to measure under, samples/s, comma-separated; 0: as "
                         "fast as the store takes them. Hainan's 15,000 VMs at a 15 s scrape "
                         "send 1,000/s; 10,000 is ten times that")  # fmt: skip
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
        return
    for name in [r for r in ROUTES if r not in args.routes.split(",")]:
        del ROUTES[name]

    sys.path.insert(0, str(ROOT / "loadtest"))
    from cloudtally.api.auth import write_demo_tokens
    from cloudtally.devtools.clickhouse_server import ClickHouseServer, free_port
    from cloudtally.store import open_store
    from cloudtally.store.migrate import migrate

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    procs: list[subprocess.Popen[bytes]] = []
    server = None
    bureaus = [f"bureau-{i}" for i in range(45)]
    tokens_all = write_demo_tokens(work / "tokens.yaml", bureaus)
    tokens = [tokens_all[f"bureau:{b}"] for b in bureaus] + [tokens_all["admin"]] * 5
    counter = work / "ingest.json"
    me = [sys.executable, str(Path(__file__).resolve()), "serve", "--tokens",
          str(work / "tokens.yaml"), "--counter", str(counter), "--vms", str(args.vms)]  # fmt: skip
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(), "mode": args.mode, "vms": args.vms,
        "clients": args.clients, "seconds": args.seconds, "cpus": os.cpu_count(),
        "revalidating_clients": args.revalidating, "routes": list(ROUTES),
        "goals": {"p95_ms": GOAL_P95_MS, "rps": GOAL_RPS, "ingest_ratio": GOAL_INGEST_RATIO},
    }  # fmt: skip
    try:
        if args.mode == "embedded":
            if args.fixture is None:
                raise SystemExit("--fixture DIR (seeded by console_bench.py --fixture DIR)")
            url = f"chdb://{args.fixture}/chdb"
            store = open_store(url, "bench_console")
            migrate(store)
            invoice, times = ensure_invoice(store, work)
            result.update(times)
            store.close()
            port = free_port()
            procs.append(subprocess.Popen([*me, "--store-url", url, "--port", str(port),
                                           "--ingest"]))  # fmt: skip
            bases = [f"http://127.0.0.1:{port}"]
        else:
            from console_bench import seed

            server = ClickHouseServer(work / "ch", tcp_port=free_port(),
                                      http_port=free_port()).start()  # fmt: skip
            url = f"{server.url}/bench_console"
            store = open_store(url, "bench_console")
            migrate(store)
            print(f"seeding {args.vms} VMs into the 18.16 server ...", flush=True)
            result["seed"] = seed(store, args.vms)
            invoice, times = ensure_invoice(store, work)
            result.update(times)
            store.close()
            procs.append(subprocess.Popen([*me, "--store-url", url, "--ingest"]))
            bases = []
            for _ in range(args.replicas):
                port = free_port()
                env = {**os.environ, "CLOUDTALLY_STORE_URL": url,
                       "CLOUDTALLY_DATABASE": "bench_console", "CLOUDTALLY_API_PORT": str(port),
                       "CLOUDTALLY_API_TOKENS_FILE": str(work / "tokens.yaml"),
                       "CLOUDTALLY_DATA_DIR": str(work), "CLOUDTALLY_MODE": "cluster"}  # fmt: skip
                procs.append(subprocess.Popen([sys.executable, "-m", "cloudtally.cli", "api"],
                                              env=env))  # fmt: skip
                bases.append(f"http://127.0.0.1:{port}")
        for b in bases:
            wait_http(b)
        cpu = cpu_parts(procs, counter, server, args.mode)
        for pace in [float(p) for p in args.paces.split(",") if p.strip()]:
            measure(args, bases, tokens, invoice, counter, cpu, result, pace)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        if server is not None:
            server.stop()
        if args.mode == "embedded" and args.fixture is not None:
            # the ingest's samples are not part of the fixture
            store = open_store(f"chdb://{args.fixture}/chdb", "bench_console")
            store.execute("ALTER TABLE samples DROP PARTITION 202406")
            store.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
