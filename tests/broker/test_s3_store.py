"""The embedded broker's disk store (``deploy/local/s3rver``) under what kill -9 and time leave.

The fault soak stalled because s3rver 3.7.1 answered 500 to every listing of more
than 1,000 keys (its DES continuation token is refused by Node's OpenSSL 3) and
Tansu lists a partition's whole ``records/`` prefix on every fetch: past its
1,000th batch a partition could no longer be read. These tests page past 1,000
keys, plant the files a killed server leaves (a half-written temporary file, an
empty ``metadata.json``, an MD5 of another content), and kill Tansu and s3rver
for real while a producer writes one batch per message.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cloudtally.broker.s3 import BUCKET, S3Server, s3rver_binary
from cloudtally.broker.stack import BrokerStack
from cloudtally.broker.supervisor import BrokerSupervisor
from cloudtally.broker.topics import ensure_topics
from cloudtally.devtools.clickhouse_server import free_port
from tests.conftest import unavailable

pytestmark = pytest.mark.broker
NS = "{http://doc.s3.amazonaws.com/2006-03-01/}"


@pytest.fixture(autouse=True)
def _need_s3rver() -> None:
    if s3rver_binary() is None:
        unavailable("s3rver missing: run `make tools` (deploy/local/install-s3rver.sh)")


def put(endpoint: str, key: str, body: bytes, **headers: str) -> int:
    req = urllib.request.Request(f"{endpoint}/{BUCKET}/{key}", data=body, method="PUT")
    for name, value in headers.items():
        req.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def list_all(endpoint: str, prefix: str, **params: str) -> tuple[list[tuple[str, str, int]], int]:
    """Every (key, etag, size) under ``prefix`` through ListObjectsV2 pages; and the page count."""
    found: list[tuple[str, str, int]] = []
    token: str | None = None
    pages = 0
    while True:
        query = {"list-type": "2", "prefix": prefix, **params}
        if token:
            query["continuation-token"] = token
        url = f"{endpoint}/{BUCKET}?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=60) as r:
            assert r.status == 200
            doc = ElementTree.fromstring(r.read())
        pages += 1
        for c in doc.iter(f"{NS}Contents"):
            found.append(
                (
                    c.findtext(f"{NS}Key") or "",
                    (c.findtext(f"{NS}ETag") or "").strip('"'),
                    int(c.findtext(f"{NS}Size") or -1),
                )
            )
        if doc.findtext(f"{NS}IsTruncated") != "true":
            return found, pages
        token = doc.findtext(f"{NS}NextContinuationToken")
        assert token


def test_listing_pages_past_1000_keys_and_shrugs_off_what_a_killed_server_left(
    tmp_path: Path,
) -> None:
    data = tmp_path / "s3"
    logs = tmp_path / "logs"
    bodies = {f"p/0000000001/records/{i:020d}.batch": os.urandom(50 + i % 7) for i in range(2345)}
    bodies["p/0000000001/watermark.json"] = b'{"low":0,"high":2345}'
    bodies["p/0000000002/records/00000000000000000000.batch"] = b"other partition"
    port = free_port()
    with S3Server(data, port, logs) as s3:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda kv: put(s3.endpoint, *kv), bodies.items()))
        assert set(codes) == {200}
        listed, pages = list_all(s3.endpoint, "p/0000000001/records/")
        assert pages == 3  # 1000 + 1000 + 345
        assert [k for k, _, _ in listed] == sorted(k for k in bodies if "0001/records/" in k)
        assert all(e == hashlib.md5(bodies[k]).hexdigest() for k, e, _ in listed)
        assert all(s == len(bodies[k]) for k, _, s in listed)
        # smaller pages and a start-after resume exactly where asked
        small, pages = list_all(s3.endpoint, "p/", **{"max-keys": "700"})
        assert pages == 4 and [k for k, _, _ in small] == sorted(bodies)
        after, _ = list_all(s3.endpoint, "p/0000000001/", **{"start-after": listed[1999][0]})
        assert [k for k, _, _ in after] == [k for k, _, _ in listed[2000:]] + [
            "p/0000000001/watermark.json"
        ]

    # What kill -9 of s3rver mid-write leaves: a temporary file, an empty metadata.json,
    # an MD5 side file describing other content. None may fail a listing or a read.
    part = data / BUCKET / "p" / "0000000001"
    records = part / "records"
    leftover = records / "00000000000000009999.batch._S3rver_object.tmp-4242-7"
    leftover.write_bytes(b"")
    (part / "watermark.json._S3rver_object.tmp-4242-8").write_bytes(b'{"lo')
    (records / f"{5:020d}.batch._S3rver_metadata.json").write_bytes(b"")
    (records / f"{6:020d}.batch._S3rver_object.sum").write_text(
        '{"md5":"00000000000000000000000000000000","ino":1,"size":1,"mtimeMs":1}'
    )
    with S3Server(data, port, logs) as s3:
        assert not leftover.exists()  # swept at start
        assert not list(data.rglob("*.tmp-*"))
        listed, _ = list_all(s3.endpoint, "p/0000000001/records/")
        assert len(listed) == 2345
        assert dict((k, e) for k, e, _ in listed)[f"p/0000000001/records/{6:020d}.batch"] == (
            hashlib.md5(bodies[f"p/0000000001/records/{6:020d}.batch"]).hexdigest()
        )
        with urllib.request.urlopen(
            f"{s3.endpoint}/{BUCKET}/p/0000000001/records/{5:020d}.batch"
        ) as r:
            assert r.read() == bodies[f"p/0000000001/records/{5:020d}.batch"]
        # conditional writes still hold against the repaired MD5
        key6 = f"p/0000000001/records/{6:020d}.batch"
        assert put(s3.endpoint, key6, b"x", If_None_Match="*") == 412
        assert put(s3.endpoint, key6, b"x", If_Match='"00000000000000000000000000000000"') == 412
        etag = '"' + hashlib.md5(bodies[key6]).hexdigest() + '"'
        assert put(s3.endpoint, key6, b"replaced", If_Match=etag) == 200
    log = (logs / "s3rver.log").read_text()
    assert "removed 2 temporary file(s)" in log


@pytest.mark.timeout(900)  # 1,100 single-message batches in, then out: ~1 min idle, ~8 at load 30
def test_kill9_of_tansu_and_s3rver_while_producing_keeps_every_partition_fetchable(
    settings, tmp_path: Path
) -> None:
    """One batch per message on one partition, past 1,000 batches, with kill -9s between."""
    s = settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        broker_storage="s3",
        broker_s3_port=free_port(),
    )
    total = 1100
    rng = random.Random(11)
    kill_at = sorted(rng.sample(range(50, total - 50), 4))
    acked: list[str] = []
    with BrokerStack(s, tmp_path / "logs") as stack:
        ensure_topics(s)
        said: list[str] = []
        # Liveness only: a wedge restart mid-test would be tests/broker/test_wedge.py's business.
        sup = BrokerSupervisor(stack, say=said.append, wedge_after_s=0)
        stop = threading.Event()

        def supervise() -> None:  # what `cloudtally up` does about once a second
            while not stop.is_set():
                sup.check()
                time.sleep(0.3)

        producer = KafkaProducer(
            bootstrap_servers=stack.bootstrap,
            acks="all",
            linger_ms=0,
            retries=0,  # this test re-sends itself, as the collectors' outbox does
            reconnect_backoff_max_ms=500,
            request_timeout_ms=10_000,
            max_block_ms=10_000,
        )
        kills: list[str] = []
        try:
            for i in range(total):
                if kill_at and i == kill_at[0]:
                    kill_at.pop(0)
                    both = len(kill_at) % 2 == 0
                    if both:
                        assert stack.s3 is not None and stack.s3.pid is not None
                        os.kill(stack.s3.pid, signal.SIGKILL)
                    assert stack.broker.pid is not None
                    os.kill(stack.broker.pid, signal.SIGKILL)
                    kills.append("s3rver+tansu" if both else "tansu")
                    while stack.broker.running() or (both and stack.s3 and stack.s3.running()):
                        time.sleep(0.05)
                    sup.check()  # restart now (the loop below also retries)
                value = f"m{i:05d}"
                deadline = time.monotonic() + 120
                while True:
                    try:
                        producer.send(s.topic_samples, value=value.encode(), partition=0).get(30)
                        break
                    except Exception:  # the broker is restarting: send again
                        assert time.monotonic() < deadline, f"could not re-send {value}"
                        sup.check()
                        time.sleep(0.5)
                acked.append(value)
        finally:
            producer.close()
        assert len(kills) == 4
        runner = threading.Thread(target=supervise, daemon=True)
        runner.start()
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=stack.bootstrap,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=200,
                # Tansu 0.6 reads batches up to the request's max_bytes (one GET each): the
                # default 50 MB would read all 1,100 per fetch and time out on a busy machine.
                fetch_max_bytes=16 * 1024,
            )
            tp = TopicPartition(s.topic_samples, 0)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            got: list[tuple[int, str]] = []
            deadline = time.monotonic() + 420
            while len({v for _, v in got}) < total and time.monotonic() < deadline:
                for records in consumer.poll(500).values():
                    got += [(r.offset, r.value.decode()) for r in records]
            consumer.close()
            assert len({v for _, v in got}) == total, (len(got), said)
        finally:
            stop.set()
            runner.join()
    values = [v for _, v in got]
    offsets = [o for o, _ in got]
    assert offsets == sorted(set(offsets))  # no offset reused after a restart
    assert set(values) == set(acked)  # every acknowledged message, past batch 1,000
    dup = len(values) - len(set(values))
    assert dup <= len(kills)  # at most the message in flight at each kill, re-sent
    assert max(offsets) >= 1000
    store_dir = s.data_dir / "broker-s3"
    records = store_dir / BUCKET / "clusters" / "tansu_cluster" / "topics" / s.topic_samples
    batches = list((records / "partitions" / "0000000000" / "records").glob("*._S3rver_object"))
    assert len(batches) >= 1000
    leftovers = [p for p in store_dir.rglob("*") if re.search(r"\.tmp-\d+-\d+$", p.name)]
    assert leftovers == []  # the last kill took s3rver too: its restart swept them
