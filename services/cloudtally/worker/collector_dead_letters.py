"""Collectors' dead letters, stored where an operator looks for dead letters.

A collector rejects what it cannot turn into samples before anything reaches the
samples topic: a Prometheus series or scrape target whose VM is not in inventory
(``collectors/sender.py``: ``topic = "collector:<source>"``, ``offset`` = the
window start, ``section = "samples"``). It sends those to the dead-letter topic,
which nothing read: they never reached ``dead_letters``, so
``GET /api/v1/ingest/dead-letters`` and the console's pipeline page did not show
them. The worker's ``ingest-collector-dead-letters`` agent stores them.

Only records whose ``topic`` starts with ``collector:`` are taken; the worker's
own records on that topic are in the store already. Identity as for every dead
letter (worker/dead_letters.py): (topic, partition, offset, SHA-256, section,
row), the hash over the rejected series' payload, so a re-sent window makes the
same row and a second unknown series in the same window makes another.
Any other message on the topic is skipped, never fatal.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from cloudtally.worker.dead_letters import encode_payload, message_sha256

COLLECTOR_PREFIX = "collector:"


def collector_record(value: bytes | None, now: int) -> dict[str, Any] | None:
    """The store row of one collector dead letter, or None when it is not one."""
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or not str(doc.get("topic", "")).startswith(COLLECTOR_PREFIX):
        return None
    payload = doc.get("payload")
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    encoding = str(doc.get("payload_encoding") or "utf-8")
    raw = text.encode("utf-8")
    if encoding not in ("utf-8", "base64"):
        text, encoding = encode_payload(raw)
    try:
        return {
            "received_at": int(doc.get("received_at") or now),
            "topic": str(doc["topic"])[:256],
            "partition": int(doc.get("partition") or 0),
            "offset": int(doc.get("offset") or 0),
            "message_sha256": message_sha256(raw),
            "message_bytes": len(value or b""),
            "row_index": int(doc.get("row_index", -1)),
            "section": str(doc.get("section") or "samples"),
            "reason": str(doc.get("reason") or "rejected by the collector"),
            "payload": text,
            "payload_encoding": encoding,
            "payload_bytes": len(raw),
        }
    except (TypeError, ValueError):
        return None


def collector_records(values: Sequence[bytes | None]) -> list[dict[str, Any]]:
    """The collector dead letters among ``values`` (messages of the dead-letter topic)."""
    now = int(time.time())
    return [r for r in (collector_record(v, now) for v in values) if r is not None]
