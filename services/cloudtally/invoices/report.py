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

SH = ZoneInfo("Asia/Shanghai")
COLUMNS: list[tuple[str, str, str]] = [
    ("seq", "No.", "序号"),
    ("rule_id", "Rule", "规则"),
    ("kind", "Kind", "类别"),
    ("label", "Finding", "问题"),
    ("severity", "Severity", "级别"),
    ("amount_at_stake", "Amount at stake (CNY)", "涉及金额（元）"),
    ("line_numbers", "Invoice rows", "账单行号"),
    ("resource_id", "Resource", "资源ID"),
    ("resource_type", "Resource type", "资源类型"),
    ("period_start", "Period start", "计费周期起"),
    ("period_end", "Period end", "计费周期止"),
    ("bureau", "Bureau", "使用单位"),
    ("pool", "Pool", "资源池"),
    ("provider", "Provider", "云服务商"),
    ("message", "Explanation", "说明"),
    ("evidence", "Evidence", "证据"),
]


def _cell(row: dict[str, Any], key: str, zh: bool) -> str:
    v = row.get(key)
    if key == "label" and zh:
        v = row.get("label_zh", v)
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
    return [c[2] if zh else c[1] for c in COLUMNS]


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


def findings_xlsx(
    rows: Sequence[dict[str, Any]], summary: dict[str, Any] | None = None, *, zh: bool = False
) -> bytes:
    from openpyxl import Workbook

    from cloudtally.sheets import write_only_row

    wb = Workbook(write_only=True)
    if summary is not None:
        ws0 = wb.create_sheet("汇总" if zh else "Summary")
        for k, v in _summary_pairs(summary, zh):
            ws0.append(write_only_row(ws0, [k, v]))
        ws0.append([])
        ws0.append(
            [
                "规则" if zh else "Rule",
                "问题" if zh else "Finding",
                "条数" if zh else "Findings",
                "多收（元）" if zh else "Over-billed",
                "少收（元）" if zh else "Under-billed",
            ]
        )
        for r in summary.get("by_reason", []):
            ws0.append(
                [
                    r["rule_id"],
                    r["label_zh"] if zh else r["label"],
                    r["findings"],
                    float(r["over"]),
                    float(r["under"]),
                ]
            )
    ws = wb.create_sheet("问题明细" if zh else "Findings")
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


def _summary_pairs(s: dict[str, Any], zh: bool) -> list[tuple[str, str]]:
    def when(t: Any) -> str:
        return t.astimezone(SH).strftime("%Y-%m-%d %H:%M") if isinstance(t, dt.datetime) else ""

    labels = [
        ("invoice_id", "Invoice", "账单编号"),
        ("provider", "Provider", "云服务商"),
        ("period", "Billing period", "账单周期"),
        ("bureau", "Scope (bureau)", "范围（使用单位）"),
        ("billed_total", "Billed total (CNY)", "账单金额（元）"),
        ("verified_total", "Verified total (CNY)", "核定金额（元）"),
        ("over_total", "Over-billed (CNY)", "多收金额（元）"),
        ("under_total", "Under-billed (CNY)", "少收金额（元）"),
        ("unverified_total", "Not verifiable, shown apart (CNY)", "无法核验金额（单列，元）"),
        ("currency_note", "Currency", "币种"),
        ("findings", "Findings", "问题条数"),
        ("verified_at", "Verified at", "核验时间"),
        ("run_id", "Verification run", "核验批次"),
        ("ledger_head", "Ledger head (SHA-256)", "审计账本链头（SHA-256）"),
    ]
    end = s.get("billing_period_end")
    period = ""
    if isinstance(end, dt.datetime):
        period = (
            f"{when(s['billing_period_start'])[:10]} – {when(end - dt.timedelta(seconds=1))[:10]}"
        )
    source, rate = s.get("source_currency") or "", s.get("exchange_rate") or ""
    if source:
        note = (
            f"由 {source} 按 {rate} 元/{source} 换算为人民币（精确相乘，每行四舍五入到分）"
            if zh
            else f"converted from {source} at {rate} CNY per {source} (exact products, each "
            "line rounded half-up to the fen)"
        )
    else:
        note = "CNY"
    values = {
        **s,
        "currency_note": note,
        "period": period,
        "verified_at": when(s.get("verified_at")),
        "bureau": s.get("bureau") or ("全部" if zh else "all"),
    }
    out = []
    for key, en, cn in labels:
        v = values.get(key)
        text = _money(v) if key.endswith("_total") else ("" if v is None else str(v))
        out.append((cn if zh else en, text))
    return out


INTRO_ZH = "依据独立计量数据与合同价格（服务目录、中标折扣、低利用率降价、规模阶梯）逐行核验。"
INTRO_EN = (
    "Every line checked against independently metered usage and the contract tariff "
    "(catalog, tender discount, low-utilization cut, volume tiers)."
)
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

    def t(cn: str, en: str) -> str:
        return cn if zh else en

    parts = [
        "<!DOCTYPE html><html lang='"
        + ("zh-CN" if zh else "en")
        + "'><head><meta charset='utf-8'>",
        f"<title>{e(t('账单核验报告', 'Invoice verification report'))} {e(summary['invoice_id'])}"
        "</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(t('云服务账单独立核验报告', 'Independent verification of a cloud invoice'))}</h1>",
        f"<p class='muted'>{e(t(INTRO_ZH, INTRO_EN))}</p>",
        "<h2>" + e(t("汇总", "Summary")) + "</h2><table class='kv'>",
    ]
    for k, v in _summary_pairs(summary, zh):
        parts.append(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>" + e(t("按问题类型", "By reason")) + "</h2><table><tr>")
    for h in (
        t("规则", "Rule"),
        t("问题", "Finding"),
        t("条数", "Findings"),
        t("多收（元）", "Over-billed"),
        t("少收（元）", "Under-billed"),
    ):
        parts.append(f"<th>{e(h)}</th>")
    parts.append("</tr>")
    for r in summary.get("by_reason", []):
        parts.append(
            f"<tr><td>{e(r['rule_id'])}</td><td>{e(r['label_zh'] if zh else r['label'])}</td>"
            f"<td class='n'>{r['findings']}</td><td class='n over'>{_money(r['over'])}</td>"
            f"<td class='n under'>{_money(r['under'])}</td></tr>"
        )
    parts.append("</table>")
    groups = summary.get("by_group", [])
    if groups:
        parts.append(
            "<h2>"
            + e(t("按云服务商、资源池、使用单位", "By provider, pool, bureau"))
            + "</h2><table><tr>"
        )
        for h in (
            t("云服务商", "Provider"),
            t("资源池", "Pool"),
            t("使用单位", "Bureau"),
            t("行数", "Lines"),
            t("账单金额", "Billed"),
            t("核定金额", "Verified"),
            t("多收", "Over"),
            t("少收", "Under"),
        ):
            parts.append(f"<th>{e(h)}</th>")
        parts.append("</tr>")
        for g in groups:
            parts.append(
                f"<tr><td>{e(g['provider'])}</td><td>{e(g['pool'])}</td>"
                f"<td>{e(g['bureau'] or t('（未归属）', '(unattributed)'))}</td>"
                f"<td class='n'>{g['lines']}</td><td class='n'>{_money(g['billed'])}</td>"
                f"<td class='n'>{_money(g['verified'])}</td>"
                f"<td class='n over'>{_money(g['over'])}</td>"
                f"<td class='n under'>{_money(g['under'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>" + e(t("问题明细", "Findings")) + f" ({len(rows)})</h2><table><tr>")
    shown = [c for c in COLUMNS if c[0] not in ("kind", "severity", "provider", "period_end")]
    for c in shown:
        parts.append(f"<th>{e(c[2] if zh else c[1])}</th>")
    parts.append("</tr>")
    for r in rows:
        parts.append("<tr>")
        for key, _en, _cn in shown:
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
        + e(
            t(
                "金额为正表示多收，为负表示少收；金额按元四舍五入到分。计量缺失政策：",
                "Positive amounts are over-billing, negative under-billing; CNY rounded half-up "
                "to the fen. Metering-gap policy: ",
            )
        )
        + e(
            t(
                "计量缺失时段按资费文件 bill_unmetered_hours 处理：计费时按分配量计费并提示（G2），"
                "不计费时计入 G1。",
                "per the tariff's bill_unmetered_hours: when billable, gap hours are billed on "
                "allocation and flagged informationally (G2); when not, they are G1 findings.",
            )
        )
        + "</p></body></html>"
    )
    return "".join(parts)
