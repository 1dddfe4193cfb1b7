"""An idle / rightsizing / idle-storage candidate's evidence in one sentence, in the
reader's language, from the figures the candidate carries (window, averages, sizes, the
rightsizing method's parameters): the digits are the evidence's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudtally.i18n import term, translate
from cloudtally.i18n.findings import local_time


def _day(v: Any) -> str:
    text = str(v or "")
    return local_time(text)[:10] if text.endswith("Z") else text[:10]


def method(evidence: Mapping[str, Any], lang: str) -> str:
    """How the target size was found (rightsizing), or '' for other kinds."""
    rule = evidence.get("method_rule")
    if not isinstance(rule, Mapping):
        return str(evidence.get("method", ""))  # a candidate recorded before method_rule
    return translate(lang)("candidate.method", **{k: str(v) for k, v in rule.items()})


def explain(candidate: Mapping[str, Any], lang: str) -> str:
    """The evidence of ``candidate`` (``Candidate.as_dict()`` form) as a sentence."""
    _ = translate(lang)
    ev: Mapping[str, Any] = candidate.get("evidence") or {}
    kind = candidate.get("kind", "")
    values = {
        k: "" if v is None else str(v) for k, v in ev.items() if not isinstance(v, dict | list)
    }
    values["window_start"] = _day(ev.get("window_start"))
    values["window_end"] = _day(ev.get("window_end"))
    if kind == "idle":
        return _("candidate.idle", **values)
    if kind == "rightsizing":
        text = _("candidate.rightsizing", **values)
        how = method(ev, lang)
        return f"{text}{_('derivation.sep')}{how}" if how else text
    if kind == "storage_idle":
        months = ev.get("months") or []
        values["months"] = str(len(months)) if isinstance(months, list) else str(months)
        values["tier"] = term("resource", f"storage_{ev.get('tier', '')}", lang)
        return _("candidate.storage_idle", **values)
    return ""
