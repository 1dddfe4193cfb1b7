"""A scorecard as JSON, XLSX and a printable HTML report laid out like seed 003's 附件.

Points print to 2 decimals cut towards zero (``shown``): a report never shows a total
of 90.00 for an exact 89.995, whose grade is 良. Everything the report prints comes from
:func:`card_json`, so the three outputs cannot disagree.
"""

from __future__ import annotations

import io
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from cloudtally.core.scorecard.card import Line, Scorecard

STATUS_ZH = {"measured": "计量", "entered": "人工录入", "adjusted": "计量·酌情调整",
             "no_data": "无数据", "missing": "待填写"}  # fmt: skip
HERE = Path(__file__).parent


def plain(value: Decimal) -> str:
    """An exact figure without trailing zeros or exponent (2.5000 → 2.5, 10 → 10)."""
    return format(value.normalize(), "f") if value else "0"


def shown(value: Decimal | None) -> str:
    return "" if value is None else str(value.quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def _line(ln: Line) -> dict[str, Any]:
    ind, r = ln.indicator, ln.result
    return {
        "code": ind.code, "level1": ind.level1, "level2": ind.level2, "name": ind.name,
        "name_en": ind.name_en, "weight": str(ind.weight), "description": ind.description,
        "rule": ind.rule, "measure": ind.measure, "params": ind.params, "status": r.status,
        "status_zh": STATUS_ZH[r.status], "figure": None if r.figure is None else str(r.figure),
        "figure_text": r.figure_text, "points": plain(r.points), "points_shown": shown(r.points),
        "rule_points": None if ln.rule_points is None else plain(ln.rule_points),
        "evidence": [dict(e) for e in r.evidence], "note": r.note,
        "entry": None if ln.entry is None else {
            "points": plain(ln.entry.points), "comment": ln.entry.comment,
            "entered_by": ln.entry.entered_by, "entered_at": ln.entry.entered_at,
        },
    }  # fmt: skip


def card_json(card: Scorecard, **extra: Any) -> dict[str, Any]:
    lines = [_line(ln) for ln in card.lines]
    levels: dict[str, dict[str, Any]] = {}
    for ln in card.lines:
        name = ln.indicator.level1
        lv = levels.setdefault(name, {"level1": name, "weight": Decimal(0), "points": Decimal(0)})
        lv["weight"] += ln.indicator.weight
        lv["points"] += ln.result.points
    level_rows = []
    for lv in levels.values():
        rate = None if lv["weight"] <= 0 else lv["points"] / lv["weight"] * 100
        level_rows.append({"level1": lv["level1"], "weight": str(lv["weight"]),
                           "points": plain(lv["points"]), "points_shown": shown(lv["points"]),
                           "rate_shown": "" if rate is None else f"{shown(rate)}%"})  # fmt: skip
    full = card.scheme.full_marks
    return {
        "fiscal_year": card.fiscal_year, "provider": card.provider, "pool": card.pool,
        "scheme": {"version": card.scheme.version, "title": card.scheme.title},
        "full_marks": str(full), "total": plain(card.total), "total_shown": shown(card.total),
        "rate_shown": f"{shown(card.total / full * 100)}%" if full else "",
        "grade": card.grade.grade, "grade_en": card.grade.grade_en,
        "grades": [{"at_least": str(g.at_least), "grade": g.grade, "grade_en": g.grade_en}
                   for g in card.scheme.grades],
        "complete": card.complete, "missing": card.missing,
        "measured": [ln.indicator.code for ln in card.lines if ln.indicator.measure != "manual"],
        "levels": level_rows, "indicators": lines, **extra,
    }  # fmt: skip


def _spans(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Row spans for the level-1 and level-2 cells, as the seed's table merges them."""
    out = [dict(i, span1=0, span2=0) for i in items]
    for key, span in (("level1", "span1"), ("level2", "span2")):
        start = 0
        for n in range(1, len(out) + 1):
            same = (
                n < len(out)
                and out[n]["level1"] == out[start]["level1"]
                and (key == "level1" or out[n]["level2"] == out[start]["level2"])
            )
            if not same:
                out[start][span] = n - start
                start = n
    return out


def card_html(doc: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]))  # fmt: skip
    rows = _spans(doc["indicators"])
    return env.get_template("scorecard.html").render(doc=doc, rows=rows)


XLSX_COLUMNS = [
    ("level1", "一级指标"), ("level2", "二级指标"), ("name", "三级指标"), ("weight", "权重（分）"),
    ("description", "指标说明"), ("rule", "评分标准"), ("figure_text", "测量值"),
    ("status_zh", "来源"), ("points", "评价得分"), ("rule_points", "规则得分（调整前）"),
    ("note", "评价意见"), ("code", "code"), ("name_en", "indicator"),
]  # fmt: skip


def card_xlsx(doc: dict[str, Any]) -> bytes:
    """Sheet 评分表 (the table), 汇总 (per level-1 and the grade), 佐证 (evidence rows)."""
    import json

    from openpyxl import Workbook

    from cloudtally.sheets import text_cells, xlsx_text

    wb = Workbook()
    ws = wb.active
    ws.title = "评分表"
    ws.append([title for _, title in XLSX_COLUMNS])
    for ind in doc["indicators"]:
        values: list[Any] = []
        for key, _ in XLSX_COLUMNS:
            v = ind.get(key)
            if key in ("weight", "points", "rule_points") and v is not None:
                v = Decimal(v)  # numbers stay numbers in the sheet
            values.append(xlsx_text(v) if isinstance(v, str) else v)
        ws.append(values)
        text_cells(ws[ws.max_row])
    summary = wb.create_sheet("汇总")
    summary.append(["一级指标", "分值", "评价得分", "得分率"])
    for lv in doc["levels"]:
        summary.append([lv["level1"], Decimal(lv["weight"]), Decimal(lv["points"]),
                        lv["rate_shown"]])  # fmt: skip
        text_cells(summary[summary.max_row])
    for row in (
        ["评价总得分", Decimal(doc["full_marks"]), Decimal(doc["total"]), doc["rate_shown"]],
        ["绩效等级", doc["grade"], doc["grade_en"], "完整" if doc["complete"] else "待填写"],
        ["财年 / 服务商 / 资源池", str(doc["fiscal_year"]), doc["provider"], doc["pool"]],
    ):
        summary.append([xlsx_text(v) if isinstance(v, str) else v for v in row])
        text_cells(summary[summary.max_row])
    ev = wb.create_sheet("佐证")
    ev.append(["code", "三级指标", "佐证"])
    for ind in doc["indicators"]:
        for e in ind["evidence"]:
            ev.append([ind["code"], ind["name"],
                       xlsx_text(json.dumps(e, ensure_ascii=False, default=str))])  # fmt: skip
            text_cells(ev[ev.max_row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
