"""Dead-letter records: identity, bounded topic payloads (schemas/dead_letter.schema.json).

Identity is (topic, partition, offset, SHA-256 of the whole message, section, row):
a redelivered message makes the same records (same id, same Kafka key), while a
different message that got a reused offset (a memory-storage broker restarted at
0) makes new ones. Delivery to the dead-letter topic is at-least-once: consumers
dedupe on the record key / ``id``.

The store keeps the full payload (a consumed message is at most the consumer's
fetch size); the topic record carries at most ``max_payload_bytes`` of it, with
the original size and hash, so a huge bad message cannot exceed the producer's
request size.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

SCHEMA = "cloudtally.dead-letter/2"
TOPIC_PAYLOAD_MAX_BYTES = 64 * 1024


def message_sha256(value: bytes | None) -> str:
    return hashlib.sha256(value or b"").hexdigest()


def encode_payload(data: bytes) -> tuple[str, str]:
    """UTF-8 text when it is, else base64: byte for byte either way."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def record_id(topic: str, partition: int, offset: int, sha: str, section: str, row: int) -> str:
    return f"{topic}/{partition}/{offset}/{sha[:16]}/{section}/{row}"


def make_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    message: bytes | None,
    sha: str,
    reason: str,
    now: int,
    section: str = "message",
    row_index: int = -1,
    payload: bytes | None = None,
) -> dict[str, Any]:
    """One reject with its full payload (the message, or the row as JSON)."""
    data = (message if payload is None else payload) or b""
    text, encoding = encode_payload(data)
    return {
        "schema": SCHEMA,
        "id": record_id(topic, partition, offset, sha, section, row_index),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "message_sha256": sha,
        "message_bytes": len(message or b""),
        "row_index": row_index,
        "section": section,
        "reason": reason,
        "payload": text,
        "payload_encoding": encoding,
        "payload_bytes": len(data),
        "payload_truncated": False,
        "received_at": now,
    }


def topic_record(record: dict[str, Any], max_payload_bytes: int) -> tuple[bytes, bytes]:
    """(key, value) for the dead-letter topic: the payload cut to ``max_payload_bytes``."""
    value = record
    if record["payload_bytes"] > max_payload_bytes:
        raw = (
            base64.b64decode(record["payload"])
            if record["payload_encoding"] == "base64"
            else record["payload"].encode("utf-8")
        )
        head = raw[:max_payload_bytes]
        if record["payload_encoding"] == "utf-8":  # never split a character
            head = head.decode("utf-8", errors="ignore").encode("utf-8")
        text, encoding = encode_payload(head)
        value = {**record, "payload": text, "payload_encoding": encoding, "payload_truncated": True}
    return record["id"].encode(), orjson.dumps(value)
