"""What one Tansu fetch costs in listing as a partition grows (deploy/local/s3rver).

    python loadtest/s3rver_listing_bench.py [--sizes 1000,10000,50000]

Tansu 0.6 lists a partition's whole ``records/`` prefix (every batch it ever
stored; nothing expires them) on every fetch, in pages of 1,000 keys. This plants
N batch objects in a fresh s3rver folder (files as serve.js writes them), then
times a full paged listing of that prefix through HTTP: the first one after the
start (directory read, MD5 sums checked) and the steady state. Prints the numbers
and writes loadtest/results/s3rver-listing-latest.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import RESULTS, free_port

PREFIX = "clusters/tansu_cluster/topics/samples/partitions/0000000000/records/"
NS = "{http://doc.s3.amazonaws.com/2006-03-01/}"


def plant(root: Path, n: int) -> None:
    """N small batches with their side files, as serve.js leaves them."""
    folder = root / "tansu" / PREFIX
    folder.mkdir(parents=True)
    body = os.urandom(512)
    md5 = hashlib.md5(body).hexdigest()
    for i in range(n):
        obj = folder / f"{i:020d}.batch._S3rver_object"
        obj.write_bytes(body)
        st = obj.stat()
        (folder / f"{i:020d}.batch._S3rver_object.sum").write_text(
            json.dumps(
                {"md5": md5, "ino": st.st_ino, "size": st.st_size, "mtimeMs": st.st_mtime_ns / 1e6}
            )
        )
        (folder / f"{i:020d}.batch._S3rver_metadata.json").write_text("{}")


def full_listing(endpoint: str) -> tuple[int, int]:
    keys, pages, token = 0, 0, None
    while True:
        q = {"list-type": "2", "prefix": PREFIX, **({"continuation-token": token} if token else {})}
        with urllib.request.urlopen(
            f"{endpoint}/tansu?{urllib.parse.urlencode(q)}", timeout=600
        ) as r:
            doc = ElementTree.fromstring(r.read())
        pages += 1
        keys += len(doc.findall(f"{NS}Contents"))
        if doc.findtext(f"{NS}IsTruncated") != "true":
            return keys, pages
        token = doc.findtext(f"{NS}NextContinuationToken")


def main() -> None:
    from cloudtally.broker.s3 import S3Server

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="s3rver-bench-") as tmp:
            root = Path(tmp) / "data"
            plant(root, n)
            with S3Server(root, free_port(), Path(tmp) / "logs") as s3:
                t = time.perf_counter()
                keys, pages = full_listing(s3.endpoint)
                first = time.perf_counter() - t
                assert keys == n, (keys, n)
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    full_listing(s3.endpoint)
                    times.append(time.perf_counter() - t)
        row = {
            "batches": n,
            "pages": pages,
            "first_listing_s": round(first, 3),
            "listing_s_median": round(statistics.median(times), 3),
            "per_1000_keys_ms": round(statistics.median(times) / pages * 1000, 1),
        }
        rows.append(row)
        print(
            f"{n:>7,} batches, {pages:>3} pages: first {first:6.2f}s, "
            f"then {row['listing_s_median']:6.2f}s per fetch's listing "
            f"({row['per_1000_keys_ms']} ms per 1,000 keys)"
        )
    out = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg()[0],
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "s3rver-listing-latest.json").write_text(json.dumps(out, indent=2) + "\n")
    print("written to", RESULTS / "s3rver-listing-latest.json")


if __name__ == "__main__":
    main()
