"""Where a console page's server time goes: every store query a page runs, how many, how long.

Opens a store seeded by ``console_bench.py --fixture DIR`` (15,000 VMs, a month of bill
lines), requests each page once as the buyer and once as a bureau through the real app,
and prints per page: the server time, the number of queries, the time spent in them and
the slowest three (first 100 characters of their SQL). Writes
loadtest/results/console-profile.json.

Usage: python loadtest/console_profile.py --fixture /tmp/console-fixture [--label before] [--warm]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.settings import Settings
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("rows", "dicts", "scalar", "columns", "execute", "insert")


def instrument(store: Any, log: list[tuple[str, float]]) -> None:
    """Record (sql, seconds) of every outermost store call (nested calls are not counted)."""
    depth = [0]
    for name in METHODS:
        inner = getattr(store, name)

        def timed(*a: Any, _inner: Any = inner, _name: str = name, **k: Any) -> Any:
            depth[0] += 1
            c = time.perf_counter()
            try:
                return _inner(*a, **k)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    sql = a[0] if a and isinstance(a[0], str) else _name
                    log.append((re.sub(r"\s+", " ", sql)[:100], time.perf_counter() - c))

        setattr(store, name, timed)


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "loadtest"))
    from console_bench import BUREAUS, furnish, user_pages

    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", type=Path, required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--warm", action="store_true", help="profile each page's second request")
    ap.add_argument("--only", default="", help="comma-separated pages (default: all)")
    args = ap.parse_args()
    store = open_store(f"chdb://{args.fixture}/chdb", "bench_console")
    migrate(store)
    log: list[tuple[str, float]] = []
    instrument(store, log)
    furnished = furnish(store, args.fixture)
    only = {p for p in args.only.split(",") if p}
    tokens_file = args.fixture / f"tokens-{os.getpid()}.yaml"
    tokens = write_demo_tokens(tokens_file, BUREAUS)
    settings = Settings(_env_file=None, api_tokens_file=tokens_file,  # type: ignore[call-arg]
                        data_dir=args.fixture)  # fmt: skip
    out: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).isoformat(), "label": args.label,
                           "load_average": os.getloadavg()}  # fmt: skip
    with TestClient(create_api(settings, lambda: store)) as client:
        for role in ("admin", f"bureau:{BUREAUS[0]}"):
            client.post("/console/login", data={"token": tokens[role]}, follow_redirects=False)
            print(f"{role}:", flush=True)
            user = role.removeprefix("bureau:")
            for name, urls in user_pages(user, furnished).items():
                if only and name not in only:
                    continue
                url = urls[0]
                if args.warm:  # profile the second request: what a kept answer leaves
                    client.get(url)
                log.clear()
                c = time.perf_counter()
                r = client.get(url)
                ms = (time.perf_counter() - c) * 1000
                if r.status_code == 403:
                    continue
                q = sorted(log, key=lambda x: -x[1])
                out[f"{role} {name}"] = {
                    "ms": round(ms), "status": r.status_code, "queries": len(log),
                    "query_ms": round(sum(s for _, s in log) * 1000),
                    "slowest": [(sql, round(s * 1000)) for sql, s in q[:3]],
                }  # fmt: skip
                spent = sum(s for _, s in log) * 1000
                print(f"  {name:<20} {ms:>8.0f} ms  {len(log):>3} queries {spent:>8.0f} ms"
                      f"  load {os.getloadavg()[0]:.1f}")  # fmt: skip
                for sql, s in q[:3]:
                    print(f"      {s * 1000:>7.0f} ms  {sql}")
            client.cookies.clear()
    store.close()
    tokens_file.unlink(missing_ok=True)
    name = f"console-profile{'-' + args.label if args.label else ''}.json"
    (ROOT / "loadtest/results" / name).write_text(json.dumps(out, indent=2))
    print(f"wrote loadtest/results/{name}")


if __name__ == "__main__":
    main()
