"""An ``alerts``-topic event carries ids and figures, not sentences: the same event reads
in Chinese and in English with the same digits, and an event written before the ids still
shows its English price basis."""

from __future__ import annotations

from cloudtally.analytics.alerts import evaluate_candidates
from cloudtally.i18n.events import price_basis, texts
from cloudtally.store import Store
from tests.analytics.test_alerts import AS_OF, POLICY, Outbox, plant_fleet
from tests.i18n.english import digits, english_sentences


def test_events_render_in_both_languages(chdb_store: Store) -> None:
    plant_fleet(chdb_store)
    out = Outbox()
    evaluate_candidates(chdb_store, POLICY, AS_OF, out, now=1_700_000_000)
    by_key = {(e["kind"], e["vm_id"]): e for e in out.events}
    o = by_key[("rightsizing", "oversized")]
    ev = o["evidence"]
    assert ev["price_basis_id"] == "event.price_basis"
    assert price_basis(ev, "en") == ev["price_basis"]  # the English as it was written
    zh = texts(o, "zh")
    assert zh["price_basis"] == "资费 2023.2：按小时目录价（月价 ÷ 720）× 8760 小时 × 中标折扣"
    assert "2248.40 元" in zh["summary"] and "oversized" in zh["summary"], zh
    stray = by_key[("rightsizing", "stray")]["evidence"]
    assert stray["price_basis_id"] == "event.no_price"
    assert price_basis(stray, "en") == stray["price_basis"]
    for e in out.events:
        z, en = texts(e, "zh"), texts(e, "en")
        assert not english_sentences(z["summary"]), z
        assert not english_sentences(z["price_basis"] or ""), z
        assert digits(z["summary"]) == digits(en["summary"]), (z, en)
        assert sorted(digits(z["price_basis"] or "")) == sorted(digits(en["price_basis"] or ""))


def test_an_event_before_the_ids_shows_its_english() -> None:
    old = {"price_basis": "tariff 2023.1: catalog price per hour (monthly ÷ 730) × 8760 h"}
    assert price_basis(old, "zh") == old["price_basis"]
