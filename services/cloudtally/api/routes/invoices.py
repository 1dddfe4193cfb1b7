"""Invoice routes: upload as a polled job, the invoice list, per-invoice summary, lines and
findings (JSON, CSV, XLSX, printable HTML), and re-verification.

Who sees what. An invoice is the provider's document and covers many bureaus,
so a bureau token never sees an invoice as a whole: it lists only the invoices
whose latest verification attributes lines to it, and every figure it gets
(list, summary, findings, lines, exports) is computed from its own lines only —
whole-invoice totals, file name, row count and uploader stay with admins and
auditors. Lines are attributed to a bureau by verification (the matched bill
line's bureau, else the VM's owner in inventory); before an invoice is
verified a bureau sees no summary for it (404). Uploads, jobs and
re-verification are for the admin (the buyer); auditors may read jobs.

Uploads are streamed to a file under ``data_dir`` with a size limit
(``CLOUDTALLY_INVOICE_MAX_BYTES``, 413 past it; checked on Content-Length
before the body is read, and again while reading), then imported — whole or
not at all — and by default verified in a background job whose status is
polled at the ``Location`` the 202 answer gives.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from cloudtally.api.auth import AdminPrincipal, CurrentPrincipal, ReadAllPrincipal
from cloudtally.api.deps import Page, PageDep, StoreDep
from cloudtally.api.errors import ApiError
from cloudtally.api.export import LANG_DOC, Lang, items_response
from cloudtally.api.freshness import conditional, invoice_stamp
from cloudtally.api.lang import NO_LANG, LangDep
from cloudtally.api.period import check_bureau
from cloudtally.api.responses import ExactJSONResponse
from cloudtally.api.uploads import TooLarge, bounded_form, form_field, save_upload, too_large
from cloudtally.core.access import Principal
from cloudtally.core.invoice import (
    InvoiceError,
    InvoiceMapping,
    PeriodParser,
    mapping_from_dict,
    norm_resource_id,
    parse_exchange_rate,
)
from cloudtally.core.verification import RULES, Tolerances, VerificationPolicy
from cloudtally.i18n import DEFAULT_API_LANG, gettext, reasons, term
from cloudtally.i18n.findings import render_row
from cloudtally.invoices import report
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.importer import ImportLimits
from cloudtally.invoices.service import Job, policy_from_settings, registry, verify_invoice
from cloudtally.queries.invoice_lines import invoice_lines
from cloudtally.store import Store

router = APIRouter(prefix="/api/v1/invoices", tags=["invoices"])

SH = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0.00")
UploadFormat = Literal["csv", "xlsx", "focus"]
FindingsFormat = Literal["json", "csv", "xlsx", "html"]

LangQ = Annotated[Lang, Query(description=LANG_DOC + "; for html: the report's language")]
BureauQ = Annotated[
    str | None,
    Query(description="only this bureau (admin/auditor; a bureau token may name only its own)"),
]
LINE_COLUMNS = [
    "line_no", "resource_id", "resource_name", "resource_type_raw", "resource_type",
    "charge_category", "period_start", "period_end", "quantity", "unit", "unit_price",
    "list_amount", "discount_rate", "amount", "currency", "pool", "region", "sku",
    "description", "bureau",
]  # fmt: skip


# ---- documentation models (responses are built as dicts; money is a decimal string) --------


class ImportAccepted(BaseModel):
    job_id: str
    kind: str = Field(description="import")
    state: str = Field(description="queued | running | done | failed | interrupted")
    status_url: str = Field(description="poll this (also in the Location header)")


class RowErrorDoc(BaseModel):
    row: int | None = Field(description="spreadsheet row number; the header is row 1")
    column: str | None = Field(description="column header as in the file")
    reason: str = Field(description="why, in the caller's language (lang= / Accept-Language)")
    value: str = ""
    reason_id: str = Field("", description="stable reason id (catalogue import.<id>); '' if none")
    params: dict[str, str] = Field(default_factory=dict, description="the reason's figures")


class JobStatus(BaseModel):
    job_id: str
    kind: str = Field(description="import | verify")
    state: str = Field(description="queued | running | done | failed | interrupted")
    progress: float = Field(description="0..1 (bytes read of the file; 1 when done)")
    rows: int = Field(description="rows parsed so far")
    bytes_read: int
    bytes_total: int
    message: str = Field(description="what failed, or the current step")
    errors: list[RowErrorDoc] = Field(description="bad rows (nothing was imported)")
    invoice_id: str | None = Field(description="the imported invoice, or the existing one")
    duplicate: bool = Field(description="the same file had already been imported")
    result: dict[str, Any] = Field(description="import figures and the verification run")
    status_url: str


class ToleranceOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid")
    money_abs: Decimal | None = Field(None, ge=0, description="CNY; default 0.01")
    money_rel: Decimal | None = Field(None, ge=0, description="share of the reference amount")
    quantity_abs: Decimal | None = Field(None, ge=0, description="default 0.001")
    quantity_rel: Decimal | None = Field(None, ge=0)
    price_rel: Decimal | None = Field(None, ge=0, description="default 0.000001")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tolerances: ToleranceOverrides | None = Field(
        None, description="rounding tolerances (unset ones keep their defaults)"
    )
    bill_unmetered_hours: bool | None = Field(
        None,
        description="metering-gap policy: may hours without metering be billed on allocation? "
        "(default: the tariff version in force)",
    )
    background: bool = Field(
        False, description="run as a job (202 + Location) instead of answering when done"
    )


# ---- upload ------------------------------------------------------------------------------

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "provider"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the invoice: provider CSV (UTF-8, UTF-8 with BOM "
                            "or GB18030), XLSX, or FOCUS cost-and-usage CSV",
                        },
                        "provider": {"type": "string", "description": "provider id (tariff)"},
                        "format": {
                            "type": "string",
                            "enum": ["csv", "xlsx", "focus"],
                            "description": "default: xlsx for *.xlsx files, else csv",
                        },
                        "period": {
                            "type": "string",
                            "description": "billing period, e.g. 2024-01 or "
                            "2024-01-01~2024-01-31 (default: stated by the file or inferred)",
                        },
                        "mapping": {
                            "type": "string",
                            "description": "column mapping for this provider, YAML or JSON "
                            "text (keys: provider, columns, format, encoding, timezone, …)",
                        },
                        "exchange_rate": {
                            "type": "string",
                            "description": "CNY per unit of the invoice's currency, e.g. "
                            "7.1234; required for an invoice not in CNY (refused otherwise), "
                            "which is then converted exactly",
                        },
                        "verify": {
                            "type": "boolean",
                            "default": True,
                            "description": "verify right after a successful import",
                        },
                    },
                }
            }
        },
    }
}


def _mapping(text: str | None, provider: str) -> InvoiceMapping | None:
    if text is None:
        return None
    try:
        doc = yaml.safe_load(text)  # JSON is YAML
        m = mapping_from_dict(doc)
    except yaml.YAMLError as exc:
        raise ApiError(422, "error.mapping_not_yaml", error=str(exc)) from None
    except InvoiceError as exc:
        raise ApiError(422, "error.mapping", reason=exc) from None
    if m.provider != provider:
        raise ApiError(
            422, "import.mapping_provider", mapping_provider=m.provider, provider=provider
        )
    return m


def _period(text: str | None) -> tuple[dt.datetime, dt.datetime] | None:
    if text is None:
        return None
    try:
        return PeriodParser(SH).period(text)
    except (InvoiceError, ValueError) as exc:
        raise ApiError(422, "error.invoice_period", value=repr(text), reason=exc) from None


def _rate(text: str | None) -> Decimal | None:
    try:
        return None if text is None else parse_exchange_rate(text)
    except ValueError as exc:
        raise ApiError(422, "error.exchange_rate", reason=exc) from None


def _job_url(job_id: str) -> str:
    return f"{router.prefix}/jobs/{job_id}"


@router.post(
    "/imports",
    status_code=202,
    summary="Upload an invoice: import (and verify) as a background job (admin)",
    description=(
        "Multipart form: `file`, `provider`, optional `format` (csv | xlsx | focus), "
        "`period`, `mapping` (YAML/JSON text) and `verify` (default true). The file is "
        "streamed to disk with a size limit (413 past `CLOUDTALLY_INVOICE_MAX_BYTES`), then "
        "imported in a background job: every row validated, the invoice lands whole or not "
        "at all, and the same file uploaded again is recognised (the job names the existing "
        "invoice, `duplicate: true`). Answers 202 with the job id and `Location: "
        "/api/v1/invoices/jobs/{job_id}`; poll it for state, progress and row errors."
    ),
    openapi_extra=UPLOAD_BODY,
    responses={
        202: {"model": ImportAccepted, "description": "job started"},
        403: {"description": "not an admin token"},
        413: {"description": "file larger than the configured limit"},
        415: {"description": "not multipart/form-data"},
        422: {"description": "missing/invalid form field (provider, format, period, mapping)"},
    },
)
async def post_import(request: Request, store: StoreDep, principal: AdminPrincipal) -> Response:
    limit = ImportLimits().max_bytes
    form = await bounded_form(request, limit, what="invoice", max_files=2, max_fields=10)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "error.no_invoice_file")
        provider = form_field(form, "provider")
        if not provider:
            raise ApiError(422, "error.no_provider_tariff")
        fmt = form_field(form, "format")
        if fmt is not None and fmt not in ("csv", "xlsx", "focus"):
            raise ApiError(422, "error.invoice_format", value=repr(fmt))
        file_name = upload.filename or ""
        if fmt is None and file_name.lower().endswith((".xlsx", ".xlsm")):
            fmt = "xlsx"
        verify_text = (form_field(form, "verify") or "true").lower()
        if verify_text not in ("true", "false", "1", "0", "yes", "no"):
            raise ApiError(422, "error.verify_flag", value=repr(verify_text))
        mapping = _mapping(form_field(form, "mapping"), provider)
        period = _period(form_field(form, "period"))
        rate = _rate(form_field(form, "exchange_rate"))
        folder = request.app.state.settings.data_dir / "invoice-uploads"
        try:
            path, _ = await run_in_threadpool(save_upload, upload, folder, limit)
        except TooLarge:
            raise too_large(limit) from None
    finally:
        await form.close()
    job = registry.submit_import(
        store,
        path,
        verify_after=verify_text in ("true", "1", "yes"),
        delete_after=True,
        provider=provider,
        fmt=fmt,
        mapping=mapping,
        billing_period=period,
        file_name=file_name,
        imported_by=principal.name,
        exchange_rate=rate,
    )
    url = _job_url(job.job_id)
    return ExactJSONResponse(
        {"job_id": job.job_id, "kind": job.kind, "state": job.state, "status_url": url},
        status_code=202,
        headers={"Location": url},
    )


def _job_view(job: Job, lang: str = DEFAULT_API_LANG) -> dict[str, Any]:
    """A job as answered: its failure and each bad row's reason in ``lang`` (from the
    stored reason ids; a job stored before them shows its English text)."""
    d = job.as_dict()
    errors = [reasons.row_error(e, lang) for e in d["errors"]]
    message = reasons.reason(d["message_id"], d["message_params"], d["message"], lang)
    if d["state"] == "failed" and not errors:
        # a whole-file error: say where it is when the message names the header
        named = d["message_params"].get("missing") if d["message_id"] else None
        if named is None and d["message"].startswith("missing columns: "):
            named = d["message"].removeprefix("missing columns: ").split("; the file has:")[0]
        if named is not None:
            errors = [
                reasons.row_error(
                    {
                        "row": 1,
                        "column": col,
                        "reason_id": rid,
                        "value": "",
                        "reason": "missing column"
                        + ("; any one of these headers will do" if " or " in col else ""),
                    },
                    lang,
                )
                for col in named.split("; ")
                for rid in ["missing_column_any" if " or " in col else "missing_column"]
            ]
        else:
            errors = [{"row": None, "column": None, "reason": message, "value": "",
                       "reason_id": d["message_id"], "params": d["message_params"]}]  # fmt: skip
    result = d["result"]
    if d["state"] == "done":  # the last step's word ('verifying') is stale once done
        message = term("import.job", result.get("status", "done"), lang) + (
            gettext("import.job.and_verified", lang) if "verification" in result else ""
        )
    return {
        "job_id": d["job_id"],
        "kind": d["kind"],
        "state": d["state"],
        "progress": d["progress"],
        "rows": d["rows"],
        "bytes_read": d["bytes_read"],
        "bytes_total": d["bytes_total"],
        "message": message,
        "errors": errors,
        "invoice_id": result.get("invoice_id"),
        "duplicate": result.get("status") == "duplicate",
        "result": result,
        "created_at": dt.datetime.fromtimestamp(d["created_at"], dt.UTC),
        "finished_at": (
            dt.datetime.fromtimestamp(d["finished_at"], dt.UTC) if d["finished_at"] else None
        ),
        "status_url": _job_url(d["job_id"]),
    }


@router.get(
    "/jobs",
    summary="Recent import and verification jobs (admin, auditor)",
    description="The latest 200 jobs (kept in the store across restarts), newest first.",
)
def list_jobs(principal: ReadAllPrincipal, store: StoreDep, langs: LangDep = NO_LANG) -> Response:
    jobs = [_job_view(j, langs.json) for j in reversed(registry.list(store))]
    return ExactJSONResponse({"items": jobs})


@router.get(
    "/jobs/{job_id}",
    summary="Status of an import or verification job (admin, auditor)",
    description=(
        "`state` queued → running → done | failed; `progress` is the share of the file read. "
        "A rejected file ends `failed` with `errors`: row number (header = row 1), column and "
        "reason of each bad row (the first 1,000), and nothing imported. When done, "
        "`invoice_id` names the invoice (`duplicate: true` if the file had been imported "
        "before) and `result.verification` the verification run's totals. Jobs are kept in "
        "the store: after a restart a finished job still answers, and one the restart cut "
        "off is `interrupted` with what to re-run in `message`. 404 for an unknown job."
    ),
    responses={200: {"model": JobStatus}, 404: {"description": "unknown job"}},
)
def get_job(
    job_id: str, principal: ReadAllPrincipal, store: StoreDep, langs: LangDep = NO_LANG
) -> Response:
    job = registry.get(job_id, store)
    if job is None:
        raise ApiError(404, "error.no_job", job_id=job_id)
    return ExactJSONResponse(_job_view(job, langs.json))


# ---- reads -------------------------------------------------------------------------------


def _scope(principal: Principal, bureau: str | None) -> str | None:
    check_bureau(principal, bureau)
    return principal.scope or bureau


def _latest_runs(store: Store) -> dict[str, dict[str, Any]]:
    """Latest done verification run per invoice with its whole-invoice totals."""
    rows = store.dicts(
        """
        SELECT invoice_id, argMax(run_id, version) AS run_id,
               toUnixTimestamp(argMax(finished_at, version)) AS verified_at,
               argMax(findings, version) AS findings,
               toString(argMax(verified_total, version)) AS verified_total,
               toString(argMax(over_total, version)) AS over_total,
               toString(argMax(under_total, version)) AS under_total,
               toString(argMax(unverified_total, version)) AS unverified_total
        FROM verification_runs FINAL WHERE status = 'done' GROUP BY invoice_id
        """
    )
    return {r["invoice_id"]: r for r in rows}


def _money(text: Any) -> Decimal:
    return Decimal(str(text)).quantize(ZERO)


@router.get(
    "",
    summary="Imported invoices (paginated)",
    description=(
        "Admins and auditors: every invoice with its provider, billing period, file, rows, "
        "billed total and the latest verification's totals. A bureau token (or `bureau=` "
        "for admins/auditors) lists only the invoices in which the latest verification "
        "attributes lines to that bureau, with that bureau's figures only (its lines, "
        "findings, billed, verified, over and under); whole-invoice figures are withheld. "
        "Ordered by billing period, newest first."
    ),
)
def list_invoices(
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    provider: Annotated[str | None, Query(description="only this provider")] = None,
    status: Annotated[
        Literal["imported", "verified", "withdrawn"] | None, Query(description="only this status")
    ] = None,
    bureau: BureauQ = None,
) -> Response:
    scope = _scope(principal, bureau)
    invoices = inv_store.list_invoices(store, provider)
    if status is not None:
        invoices = [i for i in invoices if i["status"] == status]
    invoices.sort(key=lambda i: (i["billing_period_start"], i["imported_at"]), reverse=True)
    items: list[dict[str, Any]] = []
    if scope is None:
        runs = _latest_runs(store)
        for inv in invoices:
            run = runs.get(inv["invoice_id"])
            items.append(
                {
                    "invoice_id": inv["invoice_id"],
                    "provider": inv["provider"],
                    "provider_invoice_no": inv["provider_invoice_no"],
                    "billing_period_start": inv["billing_period_start"],
                    "billing_period_end": inv["billing_period_end"],
                    "status": inv["status"],
                    "source_format": inv["source_format"],
                    "file_name": inv["file_name"],
                    "file_bytes": int(inv["file_bytes"]),
                    "rows": int(inv["row_count"]),
                    "currency": inv["currency"],
                    "imported_at": inv["imported_at"],
                    "imported_by": inv["imported_by"],
                    "billed_total": inv["billed_total"],
                    "run_id": run["run_id"] if run else None,
                    "verified_at": (
                        dt.datetime.fromtimestamp(run["verified_at"], dt.UTC) if run else None
                    ),
                    "findings": int(run["findings"]) if run else None,
                    "verified_total": _money(run["verified_total"]) if run else None,
                    "over_total": _money(run["over_total"]) if run else None,
                    "under_total": _money(run["under_total"]) if run else None,
                    "unverified_total": _money(run["unverified_total"]) if run else None,
                }
            )
    else:
        mine = inv_store.bureau_totals(store, scope)
        for inv in invoices:
            t = mine.get(inv["invoice_id"])
            if t is None:
                continue
            billed, over, under = _money(t["billed"]), _money(t["over"]), _money(t["under"])
            unverified = _money(t["unverified"])
            items.append(
                {
                    "invoice_id": inv["invoice_id"],
                    "provider": inv["provider"],
                    "billing_period_start": inv["billing_period_start"],
                    "billing_period_end": inv["billing_period_end"],
                    "status": inv["status"],
                    "bureau": scope,
                    "lines": int(t["lines"]),
                    "findings": int(t["findings"]),
                    "billed_total": billed,
                    "verified_total": billed - over - under - unverified,
                    "over_total": over,
                    "under_total": under,
                    "unverified_total": unverified,
                }
            )
    body = page.envelope(len(items), items[page.offset : page.offset + page.limit])
    return ExactJSONResponse({"bureau": scope, **body})


def _fen(d: dict[str, Any]) -> dict[str, Any]:
    """Money at two places whatever the engine's toString wrote ('0' → '0.00')."""
    return {k: v.quantize(ZERO) if isinstance(v, Decimal) else v for k, v in d.items()}


def _invoice_or_404(store: Store, invoice_id: str) -> dict[str, Any]:
    inv = inv_store.get_invoice(store, invoice_id)
    if inv is None:
        raise ApiError(404, "error.no_invoice", invoice_id=invoice_id)
    return inv


def _summary(store: Store, invoice_id: str, scope: str | None) -> dict[str, Any]:
    """The store's summary; for a bureau, 404 unless a verification gave it lines here."""
    inv = _invoice_or_404(store, invoice_id)
    s = _fen(inv_store.summary(store, invoice_id, bureau=scope))
    s["by_reason"] = [_fen(r) for r in s["by_reason"]]
    s["by_group"] = [_fen(g) for g in s["by_group"]]
    if scope is not None:
        if s["run_id"] is None or not any(g["lines"] for g in s["by_group"]):
            raise ApiError(404, "error.no_bureau_lines", bureau=scope, invoice_id=invoice_id)
        return s
    s["invoice"] = {
        k: inv[k]
        for k in (
            "provider_invoice_no", "source_format", "file_name", "file_bytes", "row_count",
            "currency", "source_currency", "exchange_rate", "imported_at", "imported_by",
            "billed_total",
        )
    }  # fmt: skip
    return s


@router.get(
    "/{invoice_id}",
    summary="Invoice summary: billed, verified, over- and under-billing by reason and group",
    description=(
        "From the latest verification run: billed total, verified total (billed − over − "
        "under − unverifiable), over- and under-billing totals, `unverified_total` (charges "
        "cloudtally cannot verify, V1/V2: shown apart, never over-billing), findings count, "
        "`currency` with `source_currency` and `exchange_rate` when the file was converted, "
        "then `by_reason` (rule, label in English and Chinese, count, over, under, "
        "unverified; informational findings carry no money) and `by_group` (provider, "
        "pool, bureau: lines, findings, billed, verified, "
        "over, under). Before verification, only the billed total (admin/auditor). A bureau "
        "token (or `bureau=`) gets the same computed from its own lines only, and 404 when "
        "it has none in this invoice or the invoice is not verified yet. Admins and auditors "
        "also get the file's `invoice` header."
    ),
    responses={404: {"description": "unknown invoice (or none of the bureau's lines in it)"}},
)
def get_invoice(
    request: Request,
    invoice_id: str,
    store: StoreDep,
    principal: CurrentPrincipal,
    bureau: BureauQ = None,
) -> Response:
    scope = _scope(principal, bureau)
    return conditional(
        request, store, principal, invoice_stamp(store, invoice_id),
        lambda: ExactJSONResponse(_summary(store, invoice_id, scope)),
    )  # fmt: skip


def _findings_total(
    store: Store, invoice_id: str, run_id: str, filters: dict[str, Any]
) -> tuple[int, Decimal]:
    where = "invoice_id = %(id)s AND run_id = %(run)s"
    params: dict[str, Any] = {"id": invoice_id, "run": run_id}
    for name, value in filters.items():
        if value is not None:
            where += f" AND {name} = %({name})s"
            params[name] = value
    n, amount = store.rows(
        f"SELECT count(), toString(sum(amount_at_stake)) FROM verification_findings WHERE {where}",
        params,
    )[0]
    return int(n), _money(amount or 0)


@router.get(
    "/{invoice_id}/findings",
    summary="Findings of the latest verification, filtered and paginated; CSV/XLSX/HTML export",
    description=(
        "Each finding: sequence number, rule id, kind, severity, label (English/Chinese), "
        "the amount at stake (positive = over-billed, negative = under-billed), the invoice "
        "row numbers, resource, period, bureau, pool, provider, an explanation and its "
        "evidence (metered quantity, catalog price, gap hours …). Filters: `kind`, "
        "`rule_id`, `severity`, `pool`, `resource_id`, `bureau` (a bureau token always gets "
        "its own findings only). `format=csv|xlsx` exports every finding the filters select "
        "(not just the page; XLSX adds a summary sheet); `format=html` is a self-contained "
        "printable report (summary, by reason, by group, findings) a bureau can attach to a "
        "dispute; `lang=zh` for Chinese headers and report."
    ),
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
                "text/html": {},
            },
            "description": "JSON page, or the export",
        },
        404: {"description": "unknown invoice (or, for a bureau, none of its lines in it)"},
    },
)
def get_findings(
    request: Request,
    invoice_id: str,
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    kind: Annotated[str | None, Query(description="finding kind, e.g. quantity")] = None,
    rule_id: Annotated[
        str | None, Query(description=f"rule id ({', '.join(RULES)})", alias="rule")
    ] = None,
    severity: Annotated[
        Literal["error", "warning", "info"] | None, Query(description="only this severity")
    ] = None,
    pool: Annotated[str | None, Query(description="only this resource pool")] = None,
    resource_id: Annotated[str | None, Query(description="only this resource")] = None,
    bureau: BureauQ = None,
    fmt: Annotated[
        FindingsFormat,
        Query(alias="format", description="json (default), csv, xlsx or html (printable)"),
    ] = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    scope = _scope(principal, bureau)
    if rule_id is not None and rule_id not in RULES:
        raise ApiError(422, "error.unknown_rule", rule=rule_id, known=", ".join(RULES))
    filters: dict[str, Any] = {
        "bureau": scope, "kind": kind, "rule_id": rule_id, "severity": severity,
        "pool": pool, "resource_id": resource_id,
    }  # fmt: skip
    # A run's findings never change once written: the answer is kept, and ETagged, until
    # the invoice is re-imported, withdrawn or verified again (or the ledger grows).
    return conditional(
        request, store, principal, invoice_stamp(store, invoice_id),
        lambda: _findings_answer(store, invoice_id, scope, filters, page, fmt, lang),
    )  # fmt: skip


def _findings_answer(
    store: Store,
    invoice_id: str,
    scope: str | None,
    filters: dict[str, Any],
    page: Page,
    fmt: str,
    lang: str,
) -> Response:
    summary = _summary(store, invoice_id, scope)
    run_id = summary["run_id"]
    if fmt != "json":
        rows = inv_store.findings(store, invoice_id, run_id=run_id, **filters) if run_id else []
        rows = [_fen(r) for r in rows]
        zh = lang == "zh"
        name = f"invoice-{invoice_id}-findings" + (f"-{scope}" if scope else "")
        if fmt == "csv":
            body, media = report.findings_csv(rows, zh=zh), "text/csv; charset=utf-8"
        elif fmt == "xlsx":
            body = report.findings_xlsx(rows, summary, zh=zh)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            body = report.html_report(summary, rows, zh=zh).encode("utf-8")
            media = "text/html; charset=utf-8"
        disposition = "inline" if fmt == "html" else "attachment"
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}.{fmt}",
                "X-Total-Count": str(len(rows)),
            },
        )
    if run_id is None:
        return ExactJSONResponse(
            {"invoice_id": invoice_id, "run_id": None, "amount_total": ZERO,
             **page.envelope(0, [])}
        )  # fmt: skip
    total, amount = _findings_total(store, invoice_id, run_id, filters)
    rows = inv_store.findings(
        store, invoice_id, run_id=run_id, limit=page.limit, offset=page.offset, **filters
    )
    rows = [_fen(r) for r in rows]
    for r in rows:  # the sentence in the caller's language, from the stored evidence
        r["message"] = render_row(r, lang)
    return ExactJSONResponse(
        {
            "invoice_id": invoice_id,
            "run_id": run_id,
            "bureau": scope,
            "amount_total": amount,
            **page.envelope(total, rows),
        }
    )


@router.get(
    "/{invoice_id}/lines",
    summary="The invoice's lines as imported (paginated; a bureau sees its own)",
    description=(
        "Lines in file order (`line_no` = spreadsheet row, header = row 1) with resource, "
        "type (as billed and normalised), period, quantity, unit, unit price, list amount, "
        "discount, billed amount, and the bureau the line belongs to: the only bureau that owned "
        "the resource during the line's period (empty when none did, or when the period spans "
        "a move: then only admins and auditors see the line). A bureau token (or `bureau=`) "
        "gets only its own lines. `totals` counts and sums every line the "
        "filters select. `format=csv|xlsx` exports the page."
    ),
    responses={404: {"description": "unknown invoice"}},
)
def get_lines(
    invoice_id: str,
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    resource_id: Annotated[str | None, Query(description="only this resource")] = None,
    bureau: BureauQ = None,
    fmt: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(alias="format", description="json (default), csv (UTF-8, BOM) or xlsx"),
    ] = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    scope = _scope(principal, bureau)
    inv = _invoice_or_404(store, invoice_id)
    n, amount, rows = invoice_lines(
        store,
        invoice_id,
        inv["import_id"],
        bureau=scope,
        resource_key=norm_resource_id(resource_id) if resource_id is not None else None,
        limit=page.limit,
        offset=page.offset,
    )
    items = [
        {
            "line_no": int(r["line_no"]),
            **{k: r[k] for k in ("resource_id", "resource_name", "resource_type_raw")},
            **{k: r[k] for k in ("resource_type", "charge_category", "period_start")},
            "period_end": r["period_end"],
            "quantity": _plain(r["quantity"]),
            "unit": r["unit"],
            "unit_price": _plain(r["unit_price"]),
            "list_amount": _plain(r["list_amount"]),
            "discount_rate": _plain(r["discount_rate"]),
            "amount": Decimal(r["amount"]),
            **{k: r[k] for k in ("currency", "pool", "region", "sku", "description", "bureau")},
        }
        for r in rows
    ]
    totals: dict[str, Any] = {"lines": int(n), "amount": _money(amount or 0)}
    if fmt != "json":
        name = f"invoice-{invoice_id}-lines" + (f"-{scope}" if scope else "")
        return items_response(
            items, fmt=fmt, lang=lang, filename=name, keys=LINE_COLUMNS, total=totals["lines"]
        )
    body = page.envelope(totals["lines"], items)
    return ExactJSONResponse({"invoice_id": invoice_id, "bureau": scope, "totals": totals, **body})


def _plain(text: str | None) -> Decimal | None:
    """Stored decimals without trailing zeros (21.000000 → 21); NULL stays null."""
    if text is None or text == "":
        return None
    d = Decimal(text)
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


# ---- re-verify ---------------------------------------------------------------------------


def _verification_policy(inv: dict[str, Any], req: VerifyRequest) -> VerificationPolicy | None:
    if req.tolerances is None and req.bill_unmetered_hours is None:
        return None  # verify_invoice's own defaults (the tariff's gap policy)
    base = policy_from_settings(inv["billing_period_start"])
    tol = base.tolerances
    if req.tolerances is not None:
        given = {k: v for k, v in req.tolerances.model_dump().items() if v is not None}
        tol = Tolerances(**{**tol.__dict__, **given})
    unmetered = base.bill_unmetered_hours
    if req.bill_unmetered_hours is not None:
        unmetered = req.bill_unmetered_hours
    return VerificationPolicy(
        tolerances=tol, bill_unmetered_hours=unmetered, gap_info_threshold=base.gap_info_threshold
    )


@router.post(
    "/{invoice_id}/verify",
    summary="Verify (again) against metered usage and the contract tariff (admin)",
    description=(
        "Runs verification of the stored invoice against the current bill lines, inventory "
        "and volume-tier lines, and makes the new run the one summaries and findings show "
        "(earlier runs stay stored). Optional tolerances and metering-gap policy override the "
        "defaults for this run. Answers with the run's totals when done (seconds for 100,000 "
        "lines), or with `background: true` 202 and a job to poll."
    ),
    responses={
        202: {"model": ImportAccepted, "description": "verification job started"},
        404: {"description": "unknown invoice"},
    },
)
def post_verify(
    invoice_id: str,
    store: StoreDep,
    principal: AdminPrincipal,
    req: VerifyRequest | None = None,
) -> Response:
    req = req or VerifyRequest.model_validate({})
    inv = _invoice_or_404(store, invoice_id)
    policy = _verification_policy(inv, req)
    if req.background:
        job = registry.submit(
            "verify",
            lambda job: verify_invoice(store, invoice_id, policy=policy),
            store=store,
            subject=invoice_id,
        )
        url = _job_url(job.job_id)
        return ExactJSONResponse(
            {"job_id": job.job_id, "kind": job.kind, "state": job.state, "status_url": url},
            status_code=202,
            headers={"Location": url},
        )
    run = verify_invoice(store, invoice_id, policy=policy)
    return ExactJSONResponse(run)
