"""The texts of an ``alerts``-topic event, in the reader's language.

Events carry figures and ids, not sentences: the price basis of a rightsizing candidate is
``evidence.price_basis_id`` (``event.price_basis`` / ``event.no_price``) with
``price_basis_params``; ``evidence.price_basis`` keeps the English as written, for readers
that predate the ids (and is all an event written before them has). A reader renders an
event with :func:`texts` — the kind and change as words, the price basis, and one summary
line — in either language from the same event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudtally.i18n import term, translate


def price_basis(evidence: Mapping[str, Any], lang: str) -> str | None:
    """The candidate's price basis in ``lang`` (an old event: its English)."""
    key = evidence.get("price_basis_id")
    if not key:
        return evidence.get("price_basis")
    return translate(lang)(str(key), **dict(evidence.get("price_basis_params") or {}))


def texts(event: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """What a person reads of ``event`` in ``lang``: kind, change, summary, price basis."""
    _ = translate(lang)
    kind = term("kind", str(event.get("kind", "")), lang)
    change = term("event.change", str(event.get("change", "")), lang)
    savings = event.get("savings_year")
    summary = _(
        "event.summary",
        change=change,
        kind=kind,
        vm_id=event.get("vm_id", ""),
        bureau=event.get("bureau", ""),
        vcpu=event.get("freed_vcpu", 0),
        mem_gb=event.get("freed_mem_gb", 0),
        storage_gb=event.get("freed_storage_gb", 0),
    )
    if savings is not None:
        summary += _("event.savings", savings=savings)
    return {
        "kind": kind,
        "change": change,
        "summary": summary,
        "price_basis": price_basis(event.get("evidence") or {}, lang),
    }
