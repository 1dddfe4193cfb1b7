"""An SLA credit's derivation in the reader's language, from its figures.

``core.sla.PoolCredit.sentence`` writes the English once (kept in ``derivation`` and on the
bill line); a reader re-tells the same figures from a credit row's ``pools`` in either
language: availability, incidents, the step and its cut, the fee and the amount — the same
digits, the times in UTC as the English gives them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cloudtally.i18n import translate


def pool_sentence(p: Mapping[str, Any], month: str, lang: str) -> str:
    """One pool-month's credit (a row of ``CreditRow.as_row()['pools']``) in ``lang``."""
    _ = translate(lang)
    ym = month[:7]
    if int(p["step"]) <= 0:
        return _("sla.no_step", pool=p["pool"], month=ym, pct=p["availability_pct"])
    incidents = list(p["incidents"])
    shown = _("sla.list_sep").join(
        _("sla.incident", vm_id=i["vm_id"], minutes=int(i["duration_s"]) // 60,
          start=f"{dt.datetime.fromtimestamp(int(i['start']), dt.UTC):%Y-%m-%d %H:%M}Z")
        for i in incidents[:5]
    )  # fmt: skip
    more = _("sla.more", n=len(incidents) - 5) if len(incidents) > 5 else ""
    return _(
        "sla.credit",
        pool=p["pool"],
        month=ym,
        pct=p["availability_pct"],
        incidents=len(incidents),
        minutes=int(p["down_s"]) // 60,
        shown=shown,
        more=more,
        below=p["below_pct"],
        step=p["step"],
        cut=f"{Decimal(p['cut']) * 100:.2f}",
        fee=p["fee"],
        amount=p["amount"],
    )


def credit_sentence(row: Mapping[str, Any], lang: str) -> str:
    """A provider-month's derivation (every pool with a credit) in ``lang``."""
    parts = [pool_sentence(p, row["month"], lang) for p in row["pools"] if int(p["step"]) > 0]
    return translate(lang)("sla.parts_sep").join(parts) or translate(lang)("sla.none")
