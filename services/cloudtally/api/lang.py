"""The language of an answer: ``lang=zh|en`` where a route takes it, else the
``Accept-Language`` header, else the default of what is answered — Chinese for exports and
reports (CSV/XLSX/HTML: what is printed and sent on), English for the JSON API (field names
are English either way; only ``message``-like texts and ``detail`` are localised)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request

from cloudtally.i18n import DEFAULT_API_LANG, DEFAULT_EXPORT_LANG, negotiate, normalise

Lang = Literal["en", "zh"]
LANG_DOC = (
    "language of exports and texts: zh (Chinese) or en; default: the Accept-Language "
    "header, else zh for CSV/XLSX/HTML exports and en for JSON"
)


@dataclass(frozen=True)
class Langs:
    asked: str  # from lang= or Accept-Language; '' when neither names zh or en

    @property
    def json(self) -> str:
        return self.asked or DEFAULT_API_LANG

    @property
    def export(self) -> str:
        return self.asked or DEFAULT_EXPORT_LANG

    def of(self, fmt: str) -> str:
        return self.json if fmt == "json" else self.export


def request_langs(
    lang: Annotated[Lang | None, Query(description=LANG_DOC)] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Langs:
    return Langs(negotiate(lang, accept_language, default=""))


LangDep = Annotated[Langs, Depends(request_langs)]


def lang_of(request: Request) -> str:
    """For answers made outside a route (errors): the same rule, JSON default."""
    return negotiate(
        normalise(request.query_params.get("lang")) or None,
        request.headers.get("accept-language"),
        default=DEFAULT_API_LANG,
    )


NO_LANG = Langs("")  # a route signature's default (FastAPI always calls the dependency)
