"""CSV and XLSX responses for the API's tables, with English or Chinese column headers.

Column keys are the JSON field names (nested fields flattened with ``_``), so a
CSV column means exactly what the JSON field means. Chinese headers come from
the one catalogue (``col.<key>``: 使用单位, 资源池, 云服务商, 金额 …), so the CLI and the
API write the same words.
Money stays exact: CSV cells are the Decimal's own digits; XLSX cells are
numbers written from the Decimal with a two-decimal format. Text never runs as
a formula (:mod:`cloudtally.core.cells`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

from fastapi import Query
from fastapi.responses import Response

from cloudtally.billing.statements import HEADERS_ZH as BILLING_HEADERS_ZH
from cloudtally.core.cells import neutralise
from cloudtally.i18n.headers import column_headers
from cloudtally.sheets import text_cells, xlsx_text

Lang = Literal["en", "zh"]
TableFormat = Literal["json", "csv"]
SheetFormat = Literal["json", "csv", "xlsx"]

FORMAT_DOC = "json (default), csv (UTF-8 with BOM, header row) or xlsx"
LANG_DOC = "column headers of CSV/XLSX exports: en (field names) or zh (Chinese)"
LangQuery = Query(description=LANG_DOC)

# Column headers come from the catalogue (``col.<key>``); this holds any not yet in it.
HEADERS_ZH: dict[str, str] = {**BILLING_HEADERS_ZH}

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown bearer token"},
    403: {"description": "role not allowed, or a bureau token naming another bureau"},
}


def export_responses(*formats: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI: a 200 that may also be a CSV/XLSX attachment (``format=``)."""
    content: dict[str, Any] = {"application/json": {}}
    for f in formats:
        content[MEDIA[f].split(";")[0]] = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": "JSON, or the export chosen by `format`", "content": content}}


MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def header_names(keys: Sequence[str], lang: str) -> list[str]:
    return column_headers(keys, lang, HEADERS_ZH)


def flatten(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"cpu": {"day": 1}}`` → ``{"cpu_day": 1}``; ``evidence`` stays one JSON cell."""
    out: dict[str, Any] = {}
    for k, v in item.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and k != "evidence":
            out |= flatten(v, f"{key}_")
        else:
            out[key] = v
    return out


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Mapping | list | tuple):
        return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return str(v)


def _xlsx_value(v: Any) -> Any:
    """Numbers and dates as themselves; a time-aware datetime (XLSX has no zones) as its
    ISO 8601 text with the offset, so the instant stays exact."""
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.isoformat()
    if v is None or isinstance(v, bool | int | float | Decimal | dt.date):
        return v
    return xlsx_text(_text(v))


def csv_bytes(keys: Sequence[str], rows: Sequence[Sequence[Any]], lang: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header_names(keys, lang))
    for row in rows:
        w.writerow([neutralise(v) if isinstance(v, str) else _text(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")  # the BOM makes Excel read the Chinese right


def xlsx_bytes(keys: Sequence[str], rows: Sequence[Sequence[Any]], lang: str, title: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = xlsx_text("".join(c for c in title if c not in "[]:*?/\\"))[:31] or "sheet"
    ws.append([xlsx_text(h) for h in header_names(keys, lang)])
    for row in rows:
        ws.append([_xlsx_value(v) for v in row])
        text_cells(ws[ws.max_row])
        for cell, v in zip(ws[ws.max_row], row, strict=True):
            if isinstance(v, Decimal) and v.as_tuple().exponent == -2:
                cell.number_format = "0.00"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def table_response(
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    fmt: str,
    lang: str,
    filename: str,
    total: int | None = None,
) -> Response:
    """A CSV or XLSX attachment of ``rows`` (each a sequence in ``keys`` order)."""
    if fmt == "csv":
        body = csv_bytes(keys, rows, lang)
    elif fmt == "xlsx":
        body = xlsx_bytes(keys, rows, lang, filename)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    name = f"{filename}.{fmt}"
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
    }
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return Response(body, media_type=MEDIA[fmt], headers=headers)


def items_response(
    items: Sequence[Mapping[str, Any]],
    *,
    fmt: str,
    lang: str,
    filename: str,
    keys: Sequence[str] | None = None,
    total: int | None = None,
) -> Response:
    """Export a list of JSON items: nested fields flattened, columns from ``keys`` or the
    first item (an empty export still has its header row when ``keys`` is given)."""
    flat = [flatten(i) for i in items]
    cols = list(keys) if keys is not None else (list(flat[0]) if flat else [])
    return table_response(
        cols, [[f.get(k) for k in cols] for f in flat], fmt=fmt, lang=lang, filename=filename,
        total=total,
    )  # fmt: skip
