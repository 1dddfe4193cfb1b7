"""One error shape for every answer that is not a success, declared in the OpenAPI.

Every 4xx/5xx body is ``{"detail": "<one sentence>", "errors": [{loc, msg, type}]}``:
``detail`` is always a string a person can read (from the message catalogue, in the
caller's language: :class:`ApiError`); ``errors`` lists the fields at
fault (empty when the error is not about a field). Validation errors are 422,
a body that is not JSON at all is 400, and both are answered only after the
caller has been authenticated and authorised for the route: an anonymous or
bureau caller posting garbage to an admin route gets 401/403, never a
description of the body it may not send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloudtally.api.responses import ExactJSONResponse
from cloudtally.i18n import gettext, translate
from cloudtally.i18n.reasons import of_error


class Words(str):
    """A parameter of an :class:`ApiError` that is itself a catalogue key (``error.what.*``),
    told in the caller's language with the sentence."""


def _told(value: Any, lang: str) -> Any:
    if isinstance(value, Words):
        return gettext(value, lang)
    if isinstance(value, BaseException):  # a refusal: its id and figures, in lang
        return of_error(value, lang)
    return value


class ApiError(HTTPException):
    """An HTTP error whose ``detail`` is a catalogue sentence (``error.<name>``), told in
    the caller's language (``lang=`` or ``Accept-Language``; English by default)."""

    def __init__(
        self, status_code: int, key: str, headers: dict[str, str] | None = None, **params: Any
    ) -> None:
        english = {k: str(_told(v, "en")) for k, v in params.items()}
        super().__init__(status_code, translate("en")(key, **english), headers=headers)
        self.key, self.params = key, params


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="where: body/query/path and the field")
    msg: str
    type: str


class Error(BaseModel):
    """The body of every error answer."""

    detail: str = Field(description="what went wrong, in one sentence")
    errors: list[ErrorItem] = Field(default_factory=list, description="the fields at fault")


STATUS_DOC = {
    400: "the request body is not valid JSON (or not a well-formed form)",
    401: "missing or unknown bearer token",
    403: "role not allowed, or a bureau token naming another bureau",
    404: "not found (or not visible to this caller)",
    409: "conflicts with the current state (e.g. a closed month, nothing to restate)",
    413: "upload larger than allowed",
    422: "a parameter or body field is invalid",
    503: "the store or the policy is unavailable",
}


def error_response(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> ExactJSONResponse:  # fmt: skip
    body = {"detail": detail, "errors": errors or []}
    return ExactJSONResponse(body, status_code=status, headers=headers)


def _flatten(detail: Any, loc: tuple[str | int, ...] = ()) -> Iterator[dict[str, Any]]:
    """A structured HTTPException detail as error items."""
    if isinstance(detail, dict):
        for k, v in detail.items():
            yield from _flatten(v, (*loc, str(k)))
    elif isinstance(detail, list | tuple):
        for v in detail:
            yield from _flatten(v, loc)
    else:
        yield {"loc": list(loc), "msg": str(detail), "type": "value_error"}


async def _http_error(request: Request, exc: Exception) -> ExactJSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return told(request, exc)


def told(request: Request, exc: StarletteHTTPException) -> ExactJSONResponse:
    """The error answer for ``exc`` in the caller's language (also kept by api/freshness)."""
    detail = exc.detail
    if isinstance(exc, ApiError):
        from cloudtally.api.lang import lang_of

        lang = lang_of(request)
        params = {k: _told(v, lang) for k, v in exc.params.items()}
        detail = translate(lang)(exc.key, **params)
    if isinstance(detail, str):
        return error_response(exc.status_code, detail, headers=exc.headers)
    items = list(_flatten(detail))
    text = "; ".join(f"{'.'.join(map(str, i['loc']))}: {i['msg']}" for i in items)
    return error_response(exc.status_code, text or "error", items, headers=exc.headers)


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


async def _authorise_first(request: Request) -> ExactJSONResponse | None:
    """The route's own auth dependencies, run before a validation error is told."""
    from cloudtally.api.auth import bearer, current_principal, require_admin, require_read_all

    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    calls = set(_calls(dependant))
    if not calls & {current_principal, require_admin, require_read_all}:
        return None
    try:
        principal = current_principal(request, await bearer(request))
        if require_admin in calls:
            require_admin(principal)
        if require_read_all in calls:
            require_read_all(principal)
    except HTTPException as exc:
        return await _http_error(request, exc)
    return None


async def _validation_error(request: Request, exc: Exception) -> ExactJSONResponse:
    assert isinstance(exc, RequestValidationError)
    refused = await _authorise_first(request)
    if refused is not None:
        return refused
    from cloudtally.api.lang import lang_of
    from cloudtally.i18n.validation import pydantic_msg

    lang = lang_of(request)  # msg by its type in the caller's language; English: pydantic's
    items = [
        {"loc": [str(x) if not isinstance(x, int) else x for x in e.get("loc", ())],
         "msg": pydantic_msg(e, lang), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]  # fmt: skip
    _ = translate(lang)
    if any(i["type"] == "json_invalid" for i in items):
        return error_response(400, _("error.json_invalid"), items)
    text = "; ".join(f"{'.'.join(map(str, i['loc']))}: {i['msg']}" for i in items)
    return error_response(422, text or _("error.invalid_request"), items)


def install(app: FastAPI) -> None:
    """Handlers for the one error shape, and an OpenAPI that declares it everywhere."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)  # fmt: skip
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps["Error"] = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    comps.update(comps["Error"].pop("$defs", {}))
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, ops in schema.get("paths", {}).items():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            wanted = {"422"} if op.get("parameters") or op.get("requestBody") else set()
            if op.get("security"):  # the bearer scheme: every authenticated route
                wanted |= {"401", "403"}
            if "{" in path:
                wanted.add("404")
            if op.get("requestBody"):  # not JSON / malformed multipart
                wanted.add("400")
            for code in wanted | {c for c in responses if c[0] in "45"}:
                entry = responses.setdefault(code, {"description": STATUS_DOC.get(int(code), "")})
                entry["content"] = ref
    for unused in ("HTTPValidationError", "ValidationError"):
        comps.pop(unused, None)
    app.openapi_schema = schema
    return schema
