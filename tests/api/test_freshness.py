"""ETag / If-None-Match on the billing reads (both engines): 304 without a body for the
answer the client holds, one ETag per scope and format, a new ETag (and a fresh answer,
never a kept stale one) after a close or a re-rate, and a closed month's ETag that other
ratings do not disturb."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloudtally.billing.rate import rate_period
from cloudtally.queries import memo
from tests.api import fleet
from tests.api.fleet import SH, Api

seeded = fleet.seeded

B = "/api/v1/billing"
OCT = {"month": "2023-10"}


def _get(api: Api, url: str, role: str = "admin", etag: str | None = None, **params: Any) -> Any:
    headers = api.auth(role) | ({"If-None-Match": etag} if etag else {})
    return api.client.get(url, params=params, headers=headers)


def test_etag_304_scope_and_change(seeded: Api) -> None:
    routes = [
        (f"{B}/statements", {"by": "bureau", **OCT}),
        (f"{B}/statements", {"by": "system", "fiscal_year": 2024, "format": "csv"}),
        (f"{B}/lines", {"limit": 5, **OCT}),
        (f"{B}/budget", {"fiscal_year": 2024}),
    ]
    tags: dict[tuple[str, str, str], str] = {}
    for url, params in routes:
        for role in ("admin", "bureau:edu", "bureau:health"):
            r = _get(seeded, url, role, **params)
            assert r.status_code == 200 and r.content
            etag = r.headers["etag"]
            assert r.headers["cache-control"] == "private, no-cache"
            again = _get(seeded, url, role, etag, **params)
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag
            assert _get(seeded, url, role, f'W/{etag}, "other"', **params).status_code == 304
            assert _get(seeded, url, role, '"stale"', **params).status_code == 200
            tags[(url, str(params), role)] = etag
    # one ETag per scope: a bureau holding the buyer's (or the other bureau's) gets its own
    assert len(set(tags.values())) == len(tags)
    admin_tag = tags[(f"{B}/statements", str(routes[0][1]), "admin")]
    r = _get(seeded, f"{B}/statements", "bureau:edu", admin_tag, by="bureau", **OCT)
    assert r.status_code == 200 and "health" not in r.text
    # another format of the same statement: another ETag
    csv = _get(seeded, f"{B}/statements", "admin", admin_tag, by="bureau", format="csv", **OCT)
    assert csv.status_code == 200 and csv.headers["etag"] != admin_tag

    # closing October changes its answer: a new ETag and the issued figures, not a kept copy
    before = _get(seeded, f"{B}/statements", by="bureau", **OCT)
    assert before.json()["issued"]["closed"] is False
    assert seeded.post(f"{B}/close-month", {"month": "2023-10"}).status_code == 200
    closed = _get(seeded, f"{B}/statements", etag=before.headers["etag"], by="bureau", **OCT)
    assert closed.status_code == 200 and closed.json()["issued"]["closed"] is True
    assert closed.headers["etag"] != before.headers["etag"]
    lines = _get(seeded, f"{B}/lines", etag=tags[(f"{B}/lines", str(routes[2][1]), "admin")],
                 limit=5, **OCT)  # fmt: skip
    assert lines.status_code == 200  # the ledger moved: every billing answer revalidates

    # the stream rating a later month leaves the closed month's ETag as it is
    rate_period(seeded.store, seeded.policy, dt.datetime(2023, 11, 1, tzinfo=SH),
                dt.datetime(2023, 11, 2, tzinfo=SH))  # fmt: skip
    etag = closed.headers["etag"]
    assert _get(seeded, f"{B}/statements", etag=etag, by="bureau", **OCT).status_code == 304

    # a re-rate of October: new lines, new ETag, and the answer says so
    runs_before = len(_get(seeded, f"{B}/runs").json()["items"])
    r = seeded.post(f"{B}/rate", {"from": "2023-10-09T00:00:00+08:00",
                                  "to": "2023-10-10T00:00:00+08:00", "rerate": True,
                                  "reason": "etag test"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert len(_get(seeded, f"{B}/runs").json()["items"]) == runs_before + 1
    after = _get(seeded, f"{B}/statements", etag=etag, by="bureau", **OCT)
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert after.json()["ledger_head"] != closed.json()["ledger_head"]  # the re-rate's entry


def test_an_answer_in_one_language_is_never_served_for_another(seeded: Api) -> None:
    """Exports pick their language from Accept-Language when no ``lang=`` is given (#17):
    the kept answer and its ETag must follow it."""
    url, params = f"{B}/statements", {"by": "bureau", "format": "csv", **OCT}
    zh = seeded.client.get(url, params=params, headers=seeded.auth("admin") | {
        "Accept-Language": "zh-CN,zh;q=0.9"})  # fmt: skip
    en = seeded.client.get(url, params=params, headers=seeded.auth("admin") | {
        "Accept-Language": "en", "If-None-Match": zh.headers["etag"]})  # fmt: skip
    assert zh.status_code == en.status_code == 200
    assert en.headers["etag"] != zh.headers["etag"]
    assert en.text != zh.text and "合计" in zh.text and "合计" not in en.text


def _count_queries(store: Any, monkeypatch: Any) -> list[str]:
    """Every statement the store runs from now on (its query, columns and execute)."""
    seen: list[str] = []
    for name in ("query", "columns", "execute"):
        real = getattr(store, name)

        def counted(sql: str, params: Any = None, _real: Any = real) -> Any:
            seen.append(sql)
            return _real(sql, params)

        monkeypatch.setattr(store, name, counted)
    return seen


def _other_writer(api: Api) -> Any:
    """A write the API's store does not count: another process's (cluster mode), or on
    chDB, where no other process can write, a statement run past the store's counting."""
    store = api.store
    if store.engine == "server":
        from cloudtally.store.server_store import ServerStore

        return ServerStore(store.target).execute
    return lambda sql: store._run(sql, "CSV")


def test_a_kept_answer_and_a_304_cost_no_store_query(seeded: Api, monkeypatch: Any) -> None:
    """Repeated reads of unchanged data are served from memory: no stamp query, no
    metadata query inside the refresh interval; a write by another process is seen once
    the interval has passed, and a change to another month leaves this month's ETag."""
    from cloudtally.queries import parts

    june = {"month": "2023-06"}  # no bill lines in the fleet: an empty statement
    routes = [(f"{B}/statements", {"by": "bureau", **june}),
              (f"{B}/statements", {"by": "system", **OCT}),
              (f"{B}/lines", {"limit": 5, **OCT}),
              ("/api/v1/utilization", {"level": "vm", **OCT})]  # fmt: skip
    first = {(u, str(p)): _get(seeded, u, "bureau:edu", **p) for u, p in routes}
    assert all(r.status_code == 200 for r in first.values())
    assert first[(f"{B}/statements", str(routes[0][1]))].json()["rows"] == []

    monkeypatch.setattr(parts, "REFRESH_S", 3600.0)  # no refresh due inside this block
    seen = _count_queries(seeded.store, monkeypatch)
    for _ in range(3):
        for u, p in routes:
            kept = first[(u, str(p))]
            again = _get(seeded, u, "bureau:edu", **p)
            assert again.status_code == 200 and again.content == kept.content
            assert again.headers["etag"] == kept.headers["etag"]
            assert _get(seeded, u, "bureau:edu", kept.headers["etag"], **p).status_code == 304
    assert seen == []  # twelve answers and twelve 304s without one store query

    # another process puts a June bill total for edu in the store
    _other_writer(seeded)(
        "INSERT INTO bill_totals (month, bureau, system, vm_id, pool, provider, lines, days, "
        "last_day, list_amount, after_discount, after_cut, provisional_lines, version) "
        "SELECT toDate('2023-06-01'), 'edu', 'sys-june', 'vm-june', 'pool-1', 'provider-a', "
        "1, 1, toDate('2023-06-30'), toDecimal64(12.5, 2), toDecimal64(12.5, 2), "
        "toDecimal64(12.5, 2), 0, toUInt64(1)"
    )
    url, params = routes[0]
    old = first[(url, str(params))]
    assert _get(seeded, url, "bureau:edu", old.headers["etag"], **params).status_code == 304
    monkeypatch.setattr(parts, "REFRESH_S", 0.0)  # the interval has passed
    monkeypatch.setattr(parts, "STALE_S", 0.0)
    stamps_before = memo.stamp_queries
    now = _get(seeded, url, "bureau:edu", old.headers["etag"], **params)
    assert now.status_code == 200 and now.headers["etag"] != old.headers["etag"]
    assert [r["after_cut"] for r in now.json()["rows"]] == ["12.50"]
    assert any("system.parts" in s for s in seen) and memo.stamp_queries > stamps_before
    # October's answer is not disturbed by a June total
    url, params = routes[1]
    oct_ = first[(url, str(params))]
    assert _get(seeded, url, "bureau:edu", oct_.headers["etag"], **params).status_code == 304


def test_a_kept_answer_is_refused_at_once_to_a_revoked_token(seeded: Api) -> None:
    """The fast path (api/fastpath.py) answers a repeated request before FastAPI; a token
    taken out of the tokens file must be refused on its very next request all the same."""
    import yaml

    url, params = f"{B}/statements", {"by": "system", **OCT}
    first = _get(seeded, url, "bureau:health", **params)
    again = _get(seeded, url, "bureau:health", **params)
    assert again.status_code == 200 and again.headers["x-cloudtally-answer"] == "kept"
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["x-content-type-options"] == "nosniff"  # the same headers
    path = seeded.client.app.state.settings.api_tokens_file
    original = path.read_text()
    doc = yaml.safe_load(original)
    doc["tokens"] = [t for t in doc["tokens"] if t.get("bureau") != "health"]
    try:
        path.write_text(yaml.safe_dump(doc))
        assert _get(seeded, url, "bureau:health", **params).status_code == 401
        etag = first.headers["etag"]
        assert _get(seeded, url, "bureau:health", etag, **params).status_code == 401
    finally:
        path.write_text(original)
    assert _get(seeded, url, "bureau:health", **params).content == first.content
