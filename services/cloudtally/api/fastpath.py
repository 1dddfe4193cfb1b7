"""Kept answers served on the event loop, before FastAPI: no routing, no thread.

A conditional read (:func:`cloudtally.api.freshness.conditional`) costs little once its
answer is kept, but the way to it does not: FastAPI's routing, the token and policy
dependencies, the query validation and the hop into a worker thread are ~1.5 ms of
Python per request, which on two shared cores (and, in embedded mode, next to the
ingest) is most of what 50 users cost. So once the full path has answered a request,
it leaves here what it took: the ETag, the stamps the ETag was made of
(:func:`cloudtally.queries.memo.recording`) and the answer. The same request again —
same path and query string, same ``Authorization`` and ``Accept-Language`` — is then
answered here if, without any store query:

* the tokens file is the one that authorised it (a revoked token is refused at once:
  the request goes the full way), and the policy file is unchanged;
* every stamp it was made of is still the same (the part list is young and none of
  its tables was written through this process since);
* the local day has not changed (a period defaulting to "this month" moves) and the
  entry is younger than :data:`MAX_AGE_S`.

Otherwise the request takes the full path, which re-validates and leaves a new entry.
The answer is the same bytes the full path would send (the kept answer itself); a
matching ``If-None-Match`` gets the 304.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cloudtally.queries import memo

CACHE_CONTROL = "private, no-cache"  # a browser may keep a kept answer, but revalidates
MAX_AGE_S = 600.0  # a safety net: every input of the ETag is checked anyway
SIZE = 4096


@dataclass(frozen=True)
class Entry:
    etag: str
    stamps: list[tuple[memo.StampCall, tuple[int, int]]]
    tokens: object  # the tokens file's entry list that authorised the request (identity)
    policy: str  # the policy file's path and mtime, as in the ETag
    until: float  # monotonic: MAX_AGE_S, or the next local midnight if sooner
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]


def request_key(scope: dict[str, Any]) -> tuple[Any, ...] | None:
    """What makes two requests the same request, or None for one this path never serves."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    auth = lang = None
    for k, v in scope["headers"]:
        if k == b"authorization":
            auth = v
        elif k == b"accept-language":
            lang = v
    if auth is None:  # console sessions (cookies) and anonymous requests: the full path
        return None
    return scope["path"], scope["query_string"], auth, lang


class KeptAnswers:
    """The table of entries (per API process, bounded) and the ASGI middleware."""

    def __init__(self, app: Any, settings: Any) -> None:
        self.app, self.settings = app, settings
        self.served = 0
        self._entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        key = request_key(scope)
        if key is not None:
            scope.setdefault("state", {})["cloudtally_fastpath"] = (self, key)
            entry = self._current(key)
            if entry is not None:
                self.served += 1
                await self._send(scope, send, entry)
                return
            memo.recording()  # the full path's stamps, for leave()
        await self.app(scope, receive, send)

    def leave(self, key: tuple[Any, ...], entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > SIZE:
                self._entries.popitem(last=False)

    def _current(self, key: tuple[Any, ...]) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or time.monotonic() >= entry.until:
            return None
        if entry.tokens is not tokens_in_force(self.settings) or entry.policy != policy_key(
            self.settings
        ):
            return None
        for call, value in entry.stamps:
            if memo.stamp_now(call) != value:
                return None
        return entry

    @staticmethod
    async def _send(scope: dict[str, Any], send: Any, entry: Entry) -> None:
        given = b""
        for k, v in scope["headers"]:
            if k == b"if-none-match":
                given = v
        if etag_matches(given.decode("latin-1"), entry.etag):
            headers = [(b"etag", entry.etag.encode()), (b"cache-control", CACHE_CONTROL.encode())]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": entry.status,
                    "headers": entry.headers})  # fmt: skip
        await send({"type": "http.response.body", "body": entry.body})


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak or strong) or is ``*``."""
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",") if t.strip()}
    return "*" in tags or etag in tags


def tokens_in_force(settings: Any) -> object:
    from cloudtally.api.auth import tokens_file

    path = settings.api_tokens_file
    return tokens_file(path).current() if path and settings.api_auth else None


def policy_key(settings: Any) -> str:
    path = settings.policy_file
    return f"{path}:{path.stat().st_mtime_ns}" if path is not None and path.exists() else ""


def leave(request: Any, principal: Any, etag: str, stamps: list[Any], response: Any) -> None:
    """After the full path answered ``request``: leave its entry (when it came through
    the middleware and the token is still the one in force)."""
    import datetime as dt

    from cloudtally.api.period import current_policy
    from cloudtally.core.access import authenticate

    found = request.scope.get("state", {}).get("cloudtally_fastpath")
    if found is None:
        return
    table, key = found
    settings = table.settings
    tokens = tokens_in_force(settings)
    if tokens is not None:
        bearer = key[2].decode("latin-1").removeprefix("Bearer ").strip()
        if authenticate(bearer, tokens) != principal:  # reloaded meanwhile: not kept
            return
    zone = current_policy(request).zone
    now = dt.datetime.now(zone)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), zone)
    until = time.monotonic() + min(MAX_AGE_S, (midnight - now).total_seconds())
    headers = [(k, v) for k, v in response.raw_headers if k != b"x-cloudtally-answer"]
    headers.append((b"x-cloudtally-answer", b"kept"))
    table.leave(key, Entry(etag, stamps, tokens, policy_key(settings), until,
                           response.status_code, bytes(response.body), headers))  # fmt: skip
