"""Validation messages (a malformed request's 422, a policy file's errors) by their kind.

pydantic names every error by a stable ``type`` (``missing``, ``greater_than`` …) with its
figures in ``ctx``; the catalogue's ``validation.<type>`` says it in Chinese with the same
figures. English stays exactly as pydantic (or the policy loader) wrote it, so an English
client sees what it always saw. A kind the catalogue lacks, and a validator's own
``ValueError``, keep their English — unless the validator raised a
:class:`~cloudtally.core.refusal.BadValue`, whose id and parameters are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudtally.i18n import has, translate


def message(kind: str, ctx: Mapping[str, Any] | None, english: str, lang: str) -> str:
    """``validation.<kind>`` in ``lang`` filled from ``ctx``; ``english`` in English or
    when the catalogue has no such kind."""
    key = f"validation.{kind}"
    if lang == "en" or not kind or not has(key, lang):
        return english
    params = {k: _shown(v, lang) for k, v in (ctx or {}).items()}
    return translate(lang)(key, **params)


def kind_of(err: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A pydantic error's kind and figures (a BadValue raised in a validator: its own)."""
    ctx = dict(err.get("ctx") or {})
    cause = ctx.get("error")
    reason_id = getattr(cause, "reason_id", "")
    if err.get("type") == "value_error" and reason_id:
        return str(reason_id), dict(getattr(cause, "params", {}))
    return str(err.get("type", "")), ctx


def pydantic_msg(err: Mapping[str, Any], lang: str) -> str:
    """One pydantic error's ``msg`` in ``lang`` (English: pydantic's own)."""
    kind, ctx = kind_of(err)
    return message(kind, ctx, str(err.get("msg", "")), lang)


def _shown(value: Any, lang: str) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text.replace(" or ", " 或 ") if lang == "zh" else text  # literal_error's expected


def policy_lines(exc: BaseException, lang: str) -> list[str]:
    """A :class:`~cloudtally.core.policy.PolicyError`'s ``path: reason`` lines in ``lang``."""
    issues = getattr(exc, "issues", None)
    if not issues:
        return list(getattr(exc, "errors", [str(exc)]))
    return [
        f"{where}: {message(kind, params, english, lang)}"
        for where, kind, params, english in issues
    ]
