"""Why an invoice (or a row of it) was refused, in the reader's language.

The importer raises refusals as data (``cloudtally.core.invoice.BadValue``: a reason id
and its parameters beside the English text); a job stores the id and parameters, and the
API, the CLI and the console render them here from the catalogue's ``import.<id>``. A
refusal without an id (written before the catalogue had it, or from a library's own
message) shows its English text: a missing translation never hides why a file was refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudtally.i18n import gettext, term, translate


def reason(
    reason_id: str,
    params: Mapping[str, Any] | None,
    english: str,
    lang: str,
    family: str = "import",
) -> str:
    """The text of ``<family>.<reason_id>`` in ``lang`` (``import``: an invoice file,
    ``fault``: a fault report); ``english`` when there is none."""
    if not reason_id:
        return english
    key = f"{family}.{reason_id}"
    if gettext(key, lang) == key:
        return english
    return translate(lang)(key, **{k: str(v) for k, v in (params or {}).items()})


def of_error(exc: BaseException, lang: str) -> str:
    """An exception's refusal (a ``BadValue``'s id and parameters, a policy's issues,
    else its text)."""
    if getattr(exc, "issues", None):
        from cloudtally.i18n.validation import policy_lines

        return "; ".join(policy_lines(exc, lang))
    family = getattr(exc, "family", "import")  # a fault report's own refusals: fault.<id>
    params = dict(getattr(exc, "params", None) or {})
    if family == "fault" and "missing" in params:  # field ids, in the report's words
        params["missing"] = ", ".join(
            term("fault.field", f, lang) for f in str(params["missing"]).split(", ")
        )
    return reason(getattr(exc, "reason_id", ""), params, str(exc), lang, family)


def fault_rejection(r: Any, lang: str) -> dict[str, Any]:
    """A rejected fault-report row (a ``Rejection`` or its dict) with ``reason`` in
    ``lang`` and its id and parameters beside it."""
    d = row_error(r, lang, family="fault")
    d["column_text"] = term("fault.field", str(d["column"]), lang)  # the report's word for it
    return d


def row_error(e: Any, lang: str, family: str = "import") -> dict[str, Any]:
    """One bad row (a ``RowError`` or its stored dict) with ``reason`` in ``lang`` and its
    id and parameters kept beside it (the ``row``/``column``/``value`` as found)."""
    d = e if isinstance(e, Mapping) else _as_dict(e)
    params = d.get("params") or {}
    if not isinstance(params, Mapping):  # a dataclass's tuple of pairs, or JSON's lists
        params = {str(k): v for k, v in params}
    rid = str(d.get("reason_id") or "")
    return {
        "row": d.get("row"),
        "column": d.get("column"),
        "reason": reason(rid, params, str(d.get("reason", "")), lang, family),
        "value": d.get("value", ""),
        "reason_id": rid,
        "params": {str(k): str(v) for k, v in params.items()},
    }


def row_line(e: Any, lang: str) -> str:
    """'row 3, column 'amount': not a number (value 'abc')' as one line in ``lang``."""
    d = row_error(e, lang)
    _ = translate(lang)
    shown = _("import.value", value=repr(d["value"])) if d["value"] else ""
    where = _("import.where", row=d["row"], column=d["column"]) if d["column"] else (
        _("import.where_row", row=d["row"])
    )  # fmt: skip
    return f"{where}{d['reason']}{shown}"


def _as_dict(e: Any) -> dict[str, Any]:
    return {
        k: getattr(e, k, "") for k in ("row", "column", "reason", "value", "reason_id", "params")
    }
