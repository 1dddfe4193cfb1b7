"""ETag / If-None-Match for read routes, and their answers kept until the data changes.

A route gives :func:`conditional` a *stamp*: a cheap query result that changes whenever
the rows its answer is computed from change (e.g. :func:`billing_stamp`: the bill totals
and provider-level lines of the period, and the audit ledger, which every close,
restatement, re-rate and policy activation appends to). The ETag is a digest of the
route, its query string, the caller's role and bureau scope, the policy file in force
and the stamp, so:

* a client that sends ``If-None-Match`` with the ETag it holds gets ``304 Not Modified``
  and no body, without the answer being computed;
* the answer itself is kept (:mod:`cloudtally.queries.memo`) under its ETag, so 50
  bureau users asking for the same closed month are served one computation. An issued
  month changes only by a restatement (a ledger entry), so its ETag is stable for good.

Bureau scope is part of the ETag: one bureau's answer is never served to another.
Responses carry ``Cache-Control: private, no-cache``: a browser may keep them but must
revalidate, and no shared cache stores them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Hashable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cloudtally.api import fastpath
from cloudtally.api.errors import ApiError, told
from cloudtally.core.access import Principal
from cloudtally.queries import memo
from cloudtally.store import Store

CACHE_CONTROL = fastpath.CACHE_CONTROL
# Whether this answer was computed for this request or served from the kept answers
# (benchmarks and operators tell hits from misses by it).
ANSWER_HEADER = "X-Cloudtally-Answer"


def billing_stamp(store: Store, d0: dt.date, d1: dt.date) -> Hashable:
    """Changes when a bill, a provider-level line or the ledger changes for [d0, d1)."""
    months = {"m0": d0.replace(day=1), "m1": d1}
    period = "month >= %(m0)s AND month < %(m1)s"
    return (
        d0,
        d1,
        memo.stamp(store, "bill_totals", period, months, period=(months["m0"], d1)),
        memo.stamp(store, "statement_lines", period, months, period=(months["m0"], d1)),
        memo.stamp(store, "audit_ledger", "1", {}, column="seq"),
    )


def usage_stamp(store: Store, d0: dt.date, d1: dt.date, *, disks: bool = False) -> Hashable:
    """Changes when the daily rollups of [d0, d1) change (and the disks' with ``disks``).

    The rollup step rewrites a day's daily rows whenever it recomputes any of its hours,
    so this also covers answers computed from the hourly rows of those days."""
    days = {"d0": d0, "d1": d1}
    where = "day >= %(d0)s AND day < %(d1)s"
    usage = memo.stamp(store, "usage_daily", where, days, period=(d0, d1))
    disk = memo.stamp(store, "disk_usage_daily", where, days, period=(d0, d1)) if disks else None
    return (d0, d1, usage, disk)


def invoice_stamp(store: Store, invoice_id: str) -> Hashable:
    """Changes when the invoice's header (an import, a status), its runs or the ledger change.

    A verification run's findings and totals are written before its run row and never
    after, so the runs' stamp covers them: one run's answers are kept for good."""
    one = {"id": invoice_id}
    return (
        invoice_id,
        memo.stamp(store, "invoices", "invoice_id = %(id)s", one),
        memo.stamp(store, "verification_runs", "invoice_id = %(id)s", one),
        memo.stamp(store, "audit_ledger", "1", {}, column="seq"),
    )


def etag_of(request: Request, principal: Principal, stamp: Hashable) -> str:
    policy = fastpath.policy_key(request.app.state.settings)
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    # The answer's language may come from Accept-Language rather than ``lang=`` (#17).
    language = request.headers.get("accept-language", "")
    text = repr((request.url.path, query, language, principal.role, principal.scope, policy, stamp))
    return f'"{hashlib.sha256(text.encode()).hexdigest()[:32]}"'


def _matches(request: Request, etag: str) -> bool:
    return fastpath.etag_matches(request.headers.get("if-none-match", ""), etag)


def conditional(
    request: Request,
    store: Store,
    principal: Principal,
    stamp: Hashable,
    build: Callable[[], Response],
) -> Response:
    """304 if the client holds the current answer, else the (kept) answer with its ETag."""
    stamps = memo.recorded()  # the stamps ``stamp`` was made of (api/fastpath.py)
    etag = etag_of(request, principal, stamp)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(request, etag):
        found, answer = memo.ANSWERS.peek(store, etag, stamp)
        if found and stamps and answer[0] == 200:  # one that only revalidates: fast path too
            fastpath.leave(request, principal, etag, stamps, _response(answer, headers))
        return Response(status_code=304, headers=headers)
    computed: list[bool] = []

    def compute() -> tuple[int, bytes, str | None, dict[str, Any]]:
        computed.append(True)
        try:
            return _freeze(build())
        except ApiError as e:  # "not here" depends on the same data: keep it like an answer
            if e.status_code != 404:
                raise
            return _freeze(told(request, e))

    answer = memo.ANSWERS.cached(store, etag, stamp, compute)
    response = _response(answer, headers if answer[0] == 200 else {})  # no ETag on a 404
    if stamps:  # a kept "not here" too: asked again, it costs no stamp query either
        fastpath.leave(request, principal, etag, stamps, response)
    if computed:
        response.headers[ANSWER_HEADER] = "computed"
    return response


def _response(
    answer: tuple[int, bytes, str | None, dict[str, Any]], headers: dict[str, str]
) -> Response:
    status, body, media, kept = answer
    return Response(body, status_code=status, media_type=media,
                    headers={**kept, **headers, ANSWER_HEADER: "kept"})  # fmt: skip


def _freeze(response: Response) -> tuple[int, bytes, str | None, dict[str, Any]]:
    """A built response as plain data (shared between requests, never mutated)."""
    skip = {"content-length", "content-type"}
    headers = {k: v for k, v in response.headers.items() if k.lower() not in skip}
    return response.status_code, bytes(response.body), response.media_type, headers
