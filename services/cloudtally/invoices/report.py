"""Exports of a verification: findings as CSV/XLSX (English or Chinese headers) and a
self-contained printable HTML report a bureau can attach to a dispute.

Inputs are the store adapter's summary dict and finding rows, so the API and
the CLI produce the same files.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cloudtally.core.cells import neutralise
from cloudtally.i18n import gettext, translate
from cloudtally.i18n.findings import render_row, rule_label

SH = ZoneInfo("Asia/Shanghai")
# (row key, catalogue key of its header: report.col.<key>)
COLUMNS: list[tuple[str, str]] = [
    (k, f"report.col.{k}")
    for k in (
        "seq", "rule_id", "kind", "label", "severity", "amount_at_stake", "line_numbers",
        "resource_id", "resource_type", "period_start", "period_end", "bureau", "pool",
        "provider", "message", "evidence",
    )
]  # fmt: skip


def _lang(zh: bool) -> str:
    return "zh" if zh else "en"


def _cell(row: dict[str, Any], key: str, zh: bool) -> str:
    lang = _lang(zh)
    if key == "label":
        return rule_label(str(row["rule_id"]), lang)
    if key == "message":
        return render_row(row, lang)
    v = row.get(key)
    if key == "severity" and v:
        return gettext(f"severity.{v}", lang)
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.astimezone(SH).strftime("%Y-%m-%d %H:%M")
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, list | tuple):
        return " ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return str(v)


def _headers(zh: bool) -> list[str]:
    _ = translate(_lang(zh))
    return [_(c[1]) for c in COLUMNS]


def _csv(v: Any) -> Any:
    return neutralise(v) if isinstance(v, str) else v


def findings_csv(rows: Sequence[dict[str, Any]], *, zh: bool = False) -> bytes:
    """CSV, UTF-8 with BOM so spreadsheet software shows Chinese correctly."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(_headers(zh))
    for r in rows:
        w.writerow([_csv(_cell(r, c[0], zh)) for c in COLUMNS])
    return buf.getvalue().encode("utf-8-sig")


DISPUTE_KEYS = [
    "invoice_id", "provider", "seq", "rule_id", "label", "amount_at_stake", "line_numbers",
    "resource_id", "bureau", "pool", "period_start", "period_end", "message", "evidence",
]  # fmt: skip


def dispute_rows(store: Any, provider: str) -> list[dict[str, Any]]:
    """The provider's over-billed findings (latest runs of its invoices), to send back.
    Only money the verification counts as over-billed: charges cloudtally cannot verify
    (V1/V2) and a wrong bureau (O1) are shown on the invoice page, not disputed."""
    from cloudtally.core.rules import RULES
    from cloudtally.invoices import store as inv

    rows = []
    for i in inv.list_invoices(store, provider):
        for f in inv.findings(store, i["invoice_id"]):
            rule = RULES.get(f["rule_id"])
            counted = rule is None or rule.counted == "over_under"
            if counted and f["amount_at_stake"] > 0:
                rows.append({**f, "invoice_id": i["invoice_id"]})
    return rows


def dispute_csv(rows: Sequence[dict[str, Any]], lang: str) -> bytes:
    """The over-billed findings to send back to a provider (争议清单): the findings
    export's cells in ``lang`` (rule name, sentence, Beijing times); headers in Chinese
    (``report.col.*``), or the field names themselves in English, so a script reads it."""
    zh = lang == "zh"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([gettext(f"report.col.{k}", "zh") for k in DISPUTE_KEYS] if zh else DISPUTE_KEYS)
    for r in rows:
        w.writerow([_csv(_cell(r, k, zh)) for k in DISPUTE_KEYS])
    return buf.getvalue().encode("utf-8-sig")


def findings_xlsx(
    rows: Sequence[dict[str, Any]], summary: dict[str, Any] | None = None, *, zh: bool = False
) -> bytes:
    from openpyxl import Workbook

    from cloudtally.sheets import write_only_row

    wb = Workbook(write_only=True)
    _ = translate(_lang(zh))
    if summary is not None:
        ws0 = wb.create_sheet(_("report.summary"))
        for k, v in _summary_pairs(summary, zh):
            ws0.append(write_only_row(ws0, [k, v]))
        ws0.append([])
        ws0.append([_(k) for k in REASON_HEADERS])
        for r in summary.get("by_reason", []):
            ws0.append(
                [
                    r["rule_id"],
                    rule_label(r["rule_id"], _lang(zh)),
                    r["findings"],
                    float(r["over"]),
                    float(r["under"]),
                ]
            )
    ws = wb.create_sheet(_("report.findings"))
    ws.append(_headers(zh))
    for r in rows:
        cells: list[Any] = [_cell(r, c[0], zh) for c in COLUMNS]
        cells[5] = float(r["amount_at_stake"])  # a number the spreadsheet can sum
        ws.append(write_only_row(ws, cells))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _money(v: Any) -> str:
    if v is None:
        return "—"
    return f"{Decimal(v):,.2f}"


REASON_HEADERS = ("report.rule", "report.finding", "report.count", "report.over", "report.under")
GROUP_HEADERS = (
    "report.provider", "report.pool", "report.bureau", "report.lines", "report.billed",
    "report.verified", "report.over_short", "report.under_short",
)  # fmt: skip
SUMMARY_KEYS = (
    "invoice_id", "provider", "period", "bureau", "billed_total", "verified_total", "over_total",
    "under_total", "unverified_total", "currency_note", "findings", "verified_at", "run_id",
    "ledger_head",
)  # fmt: skip


def _summary_pairs(s: dict[str, Any], zh: bool) -> list[tuple[str, str]]:
    lang = _lang(zh)
    _ = translate(lang)

    def when(t: Any) -> str:
        return t.astimezone(SH).strftime("%Y-%m-%d %H:%M") if isinstance(t, dt.datetime) else ""

    end = s.get("billing_period_end")
    period = ""
    if isinstance(end, dt.datetime):
        period = (
            f"{when(s['billing_period_start'])[:10]} – {when(end - dt.timedelta(seconds=1))[:10]}"
        )
    source, rate = s.get("source_currency") or "", s.get("exchange_rate") or ""
    note = _("report.currency_converted", source=source, rate=rate) if source else "CNY"
    values = {
        **s,
        "currency_note": note,
        "period": period,
        "verified_at": when(s.get("verified_at")),
        "bureau": s.get("bureau") or _("report.all"),
    }
    out = []
    for key in SUMMARY_KEYS:
        v = values.get(key)
        text = _money(v) if key.endswith("_total") else ("" if v is None else str(v))
        out.append((_(f"report.summary.{key}"), text))
    return out


_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:24px;
color:#111;font-size:12px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 6px;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #bbb;padding:3px 5px;
vertical-align:top}th{background:#eee;text-align:left}td.n{text-align:right;white-space:nowrap}
.over{color:#a00}.under{color:#05a}.muted{color:#666}
.kv td:first-child{width:30%;background:#f6f6f6}
.ev{font-family:monospace;font-size:10px;color:#333;word-break:break-all}
@media print{body{margin:10mm}h2{page-break-after:avoid}tr{page-break-inside:avoid}}
"""


def html_report(summary: dict[str, Any], rows: Sequence[dict[str, Any]], *, zh: bool = True) -> str:
    """One printable, self-contained HTML page (inline CSS, no scripts, no external files)."""
    e = html.escape
    lang = _lang(zh)
    _ = translate(lang)
    parts = [
        "<!DOCTYPE html><html lang='"
        + ("zh-CN" if zh else "en")
        + "'><head><meta charset='utf-8'>",
        f"<title>{e(_('report.title'))} {e(summary['invoice_id'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(_('report.heading'))}</h1>",
        f"<p class='muted'>{e(_('report.intro'))}</p>",
        "<h2>" + e(_("report.summary")) + "</h2><table class='kv'>",
    ]
    for k, v in _summary_pairs(summary, zh):
        parts.append(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>" + e(_("report.by_reason")) + "</h2><table><tr>")
    for h in REASON_HEADERS:
        parts.append(f"<th>{e(_(h))}</th>")
    parts.append("</tr>")
    for r in summary.get("by_reason", []):
        parts.append(
            f"<tr><td>{e(r['rule_id'])}</td><td>{e(rule_label(r['rule_id'], lang))}</td>"
            f"<td class='n'>{r['findings']}</td><td class='n over'>{_money(r['over'])}</td>"
            f"<td class='n under'>{_money(r['under'])}</td></tr>"
        )
    parts.append("</table>")
    groups = summary.get("by_group", [])
    if groups:
        parts.append("<h2>" + e(_("report.by_group")) + "</h2><table><tr>")
        for h in GROUP_HEADERS:
            parts.append(f"<th>{e(_(h))}</th>")
        parts.append("</tr>")
        for g in groups:
            parts.append(
                f"<tr><td>{e(g['provider'])}</td><td>{e(g['pool'])}</td>"
                f"<td>{e(g['bureau'] or _('report.unattributed'))}</td>"
                f"<td class='n'>{g['lines']}</td><td class='n'>{_money(g['billed'])}</td>"
                f"<td class='n'>{_money(g['verified'])}</td>"
                f"<td class='n over'>{_money(g['over'])}</td>"
                f"<td class='n under'>{_money(g['under'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>" + e(_("report.findings")) + f" ({len(rows)})</h2><table><tr>")
    shown = [c for c in COLUMNS if c[0] not in ("kind", "severity", "provider", "period_end")]
    for c in shown:
        parts.append(f"<th>{e(_(c[1]))}</th>")
    parts.append("</tr>")
    for r in rows:
        parts.append("<tr>")
        for key, _header in shown:
            v = _cell(r, key, zh)
            if key == "amount_at_stake":
                cls = "over" if r["amount_at_stake"] > 0 else "under"
                parts.append(f"<td class='n {cls}'>{_money(r['amount_at_stake'])}</td>")
            elif key == "evidence":
                parts.append(f"<td class='ev'>{e(v)}</td>")
            else:
                parts.append(f"<td>{e(v)}</td>")
        parts.append("</tr>")
    parts.append("</table>")
    parts.append(
        "<p class='muted'>"
        + e(_("report.signs"))
        + e(_("report.gap_policy"))
        + "</p></body></html>"
    )
    return "".join(parts)
