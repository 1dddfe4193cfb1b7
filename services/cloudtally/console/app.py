"""Console routes: one handler per page, each a thin call into the scoped read models.

Mounted by :func:`mount` from ``api/main.py``. ``/`` redirects to the signed-in
home page (or to sign-in). Every handler gets a :class:`Ctx` (principal, language,
CSRF value) and passes ``ctx.scope`` — the principal's bureau or None — to the read
models; pages for the buyer and auditors only (invoices, pools) or the buyer only
(pipeline) answer 403 to others.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from cloudtally.console.i18n import LANGS, translator
from cloudtally.console.session import (
    COOKIE,
    TokenSource,
    encode,
    new_session,
    session_principal,
)
from cloudtally.core.access import Principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/console", include_in_schema=False)
LANG_COOKIE = "ct_lang"


class NotSignedIn(Exception):
    pass


@dataclass
class Ctx:
    request: Request
    principal: Principal
    csrf: str
    lang: str

    @property
    def scope(self) -> str | None:
        return self.principal.scope

    @property
    def store(self) -> Any:
        return self.request.app.state.store_provider()

    @property
    def settings(self) -> Any:
        return self.request.app.state.settings

    def policy(self) -> Any:
        from cloudtally.api.period import current_policy

        return current_policy(self.request)

    def need_read_all(self) -> None:
        if not self.principal.can_read_all:
            raise HTTPException(403, "admin or auditor only")

    def need_admin(self) -> None:
        if not self.principal.can_write:
            raise HTTPException(403, "admin only")

    def bureau_filter(self, bureau: str | None) -> str | None:
        """The bureau a page shows: a bureau principal its own (another is refused)."""
        from cloudtally.api.period import check_bureau

        check_bureau(self.principal, bureau or None)
        return self.scope or (bureau or None)

    def render(self, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        started = getattr(self.request.state, "started", time.perf_counter())
        values |= self._common()
        response = templates.TemplateResponse(self.request, name, values, status_code=status_code)
        ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={ms:.1f}"
        return response

    def fragment(self, name: str, **values: Any) -> Markup:
        """A part of a page rendered to one string, to keep: a kept string costs the
        garbage collector one object where the hundreds of rows it shows cost thousands."""
        return Markup(templates.env.get_template(name).render(values | self._common()))

    def _common(self) -> dict[str, Any]:
        return {
            "ctx": self,
            "t": translator(self.lang),
            "lang": self.lang,
            "principal": self.principal,
            "csrf": self.csrf,
            "path": self.request.url.path,
        }


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGS else "zh"


def context(request: Request) -> Ctx:
    request.state.started = time.perf_counter()
    settings = request.app.state.settings
    if not settings.api_auth:
        return Ctx(request, Principal("anonymous-admin", "admin"), "", _lang(request))
    signed = session_principal(request)
    if signed is None:
        raise NotSignedIn()
    session, principal = signed
    return Ctx(request, principal, session.csrf, _lang(request))


CtxDep = Annotated[Ctx, Depends(context)]


def mount(app: FastAPI) -> None:
    """Add the console to the API app: static files, pages, ``/`` → the console."""
    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)

    @app.exception_handler(NotSignedIn)
    def _to_login(request: Request, _exc: NotSignedIn) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
        return RedirectResponse(f"/console/login?next={quote(request.url.path)}", status_code=303)

    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
        """Console pages answer errors as a page (or a short text for htmx); the API keeps
        its JSON errors."""
        if not request.url.path.startswith("/console/"):
            return await http_exception_handler(request, exc)
        if request.headers.get("HX-Request"):
            return Response(str(exc.detail), status_code=exc.status_code)
        lang = _lang(request)
        t = translator(lang)
        title = {403: t("forbidden"), 404: t("not_found")}.get(
            exc.status_code, str(exc.status_code)
        )
        return templates.TemplateResponse(
            request, "error.html",
            {"t": t, "lang": lang, "principal": None, "csrf": "", "path": request.url.path,
             "title": title, "detail": exc.detail},
            status_code=exc.status_code,
        )  # fmt: skip

    from cloudtally.console import (
        evaluation_pages,  # noqa: F401  (availability, scorecards)
        pages,  # noqa: F401  (registers the page routes)
    )


# ---------------------------------------------------------------- sign-in, language


@router.get("/login")
def login_form(request: Request, next: str = "/console/", error: str = "") -> HTMLResponse:
    lang = _lang(request)
    return templates.TemplateResponse(
        request,
        "login.html",
        {"t": translator(lang), "lang": lang, "next": next, "error": error, "principal": None,
         "csrf": "", "path": "/console/login"},
    )  # fmt: skip


def _safe_next(target: str) -> str:
    return target if target.startswith("/console/") and "//" not in target else "/console/"


@router.post("/login")
def login(
    request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/console/"
) -> Response:
    settings = request.app.state.settings
    source = TokenSource(settings.api_tokens_file)
    found = source.sign_in(token)
    if found is None:
        return RedirectResponse(
            f"/console/login?error=1&next={quote(_safe_next(next))}", status_code=303
        )
    subject, _principal = found
    session = new_session(settings, source.name, subject)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        encode(settings, session),
        max_age=int(settings.console_session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_lang(code: str, request: Request) -> Response:
    back = request.headers.get("referer") or "/console/"
    path = "/" + back.split("/", 3)[3] if back.count("/") >= 3 else "/console/"
    response = RedirectResponse(_safe_next(path), status_code=303)
    response.set_cookie(LANG_COOKIE, code if code in LANGS else "zh", max_age=365 * 86400,
                        samesite="lax", path="/")  # fmt: skip
    return response


# ---------------------------------------------------------------- helpers for pages


def money(value: Any) -> str:
    if value is None:
        return "—"
    try:
        d = Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return str(value)
    return f"{d:,}"


def pct(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f}"


def csv_download(keys: list[str], rows: list[dict[str, Any]], name: str) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(keys)
    for r in rows:
        w.writerow(["" if r.get(k) is None else r.get(k) for k in keys])
    return csv_response(("\ufeff" + buf.getvalue()).encode("utf-8"), name)


def csv_response(body: bytes, name: str) -> Response:
    """A CSV file (UTF-8, its BOM in ``body``) downloaded as ``<name>.csv``."""
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.csv"},
    )


def local_day(value: Any, end: bool = False) -> str:
    """A UTC instant as the buyers' local date (an exclusive end: the last day included)."""
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    local = value.astimezone(SHANGHAI)
    return (local - dt.timedelta(seconds=1) if end else local).date().isoformat()


SHANGHAI = dt.timezone(dt.timedelta(hours=8))
templates.env.filters["money"] = money
templates.env.filters["local_day"] = local_day
templates.env.filters["pct"] = pct
templates.env.globals["today"] = lambda: dt.date.today()
