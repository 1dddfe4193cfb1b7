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
from cloudtally.i18n import DEFAULT_EXPORT_LANG, gettext, translate

STATUSES = ("measured", "entered", "adjusted", "no_data", "missing")
HERE = Path(__file__).parent


def status_text(status: str, lang: str) -> str:
    """An indicator's source (measured, entered …) in ``lang`` (``scorecard.status.*``)."""
    return gettext(f"scorecard.status.{status}", lang)


def _text(r: Any, lang: str) -> tuple[str, str]:
    """(figure text, remark) in ``lang`` from the rule's ids and figures; a result without
    ids keeps its texts (an entry's comment is the reviewer's words, shown as written)."""
    _ = translate(lang)
    params = dict(r.params)
    figure = _(f"scorecard.figure.{r.text_id}", **params) if r.text_id else r.figure_text
    note = _(f"scorecard.note.{r.note_id}", **params) if r.note_id else r.note
    return figure, note


def plain(value: Decimal) -> str:
    """An exact figure without trailing zeros or exponent (2.5000 → 2.5, 10 → 10)."""
    return format(value.normalize(), "f") if value else "0"


def shown(value: Decimal | None) -> str:
    return "" if value is None else str(value.quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def _line(ln: Line, lang: str) -> dict[str, Any]:
    ind, r = ln.indicator, ln.result
    figure_text, note = _text(r, lang)
    return {
        "code": ind.code, "level1": ind.level1, "level2": ind.level2, "name": ind.name,
        "name_en": ind.name_en, "weight": str(ind.weight), "description": ind.description,
        "rule": ind.rule, "measure": ind.measure, "params": ind.params, "status": r.status,
        "status_zh": status_text(r.status, "zh"), "status_text": status_text(r.status, lang),
        "figure": None if r.figure is None else str(r.figure),
        "figure_text": figure_text, "points": plain(r.points), "points_shown": shown(r.points),
        "rule_points": None if ln.rule_points is None else plain(ln.rule_points),
        "evidence": [dict(e) for e in r.evidence], "note": note,
        "entry": None if ln.entry is None else {
            "points": plain(ln.entry.points), "comment": ln.entry.comment,
            "entered_by": ln.entry.entered_by, "entered_at": ln.entry.entered_at,
        },
    }  # fmt: skip


def card_json(card: Scorecard, lang: str = DEFAULT_EXPORT_LANG, **extra: Any) -> dict[str, Any]:
    """The scorecard as data; its texts (source, remarks) in ``lang``."""
    lines = [_line(ln, lang) for ln in card.lines]
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
        "levels": level_rows, "indicators": lines, "lang": lang, **extra,
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
    """The printable report in the document's language (the catalogue's ``scorecard.*``)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]))  # fmt: skip
    rows = _spans(doc["indicators"])
    lang = doc.get("lang", DEFAULT_EXPORT_LANG)
    return env.get_template("scorecard.html").render(doc=doc, rows=rows, _=translate(lang),
                                                     lang=lang)  # fmt: skip


XLSX_COLUMNS = [  # (field, the catalogue's column key)
    ("level1", "scorecard.col.level1"), ("level2", "scorecard.col.level2"),
    ("name", "scorecard.col.name"), ("weight", "scorecard.col.weight"),
    ("description", "scorecard.col.description"), ("rule", "scorecard.col.rule"),
    ("figure_text", "scorecard.col.figure"), ("status_text", "scorecard.col.status"),
    ("points", "scorecard.col.points"), ("rule_points", "scorecard.col.rule_points"),
    ("note", "scorecard.col.note"), ("code", "scorecard.col.code"),
    ("name_en", "scorecard.col.name_en"),
]  # fmt: skip


def card_xlsx(doc: dict[str, Any]) -> bytes:
    """Sheet 评分表 (the table), 汇总 (per level-1 and the grade), 佐证 (evidence rows)."""
    import json

    from openpyxl import Workbook

    from cloudtally.sheets import text_cells, xlsx_text

    _ = translate(doc.get("lang", DEFAULT_EXPORT_LANG))
    wb = Workbook()
    ws = wb.active
    ws.title = _("scorecard.sheet.table")
    ws.append([_(key) for _f, key in XLSX_COLUMNS])
    for ind in doc["indicators"]:
        values: list[Any] = []
        for key, _title in XLSX_COLUMNS:
            v = ind.get(key)
            if key in ("weight", "points", "rule_points") and v is not None:
                v = Decimal(v)  # numbers stay numbers in the sheet
            values.append(xlsx_text(v) if isinstance(v, str) else v)
        ws.append(values)
        text_cells(ws[ws.max_row])
    summary = wb.create_sheet(_("scorecard.sheet.summary"))
    summary.append([_("scorecard.col.level1"), _("scorecard.col.full"),
                    _("scorecard.col.points"), _("scorecard.col.rate")])  # fmt: skip
    for lv in doc["levels"]:
        summary.append([lv["level1"], Decimal(lv["weight"]), Decimal(lv["points"]),
                        lv["rate_shown"]])  # fmt: skip
        text_cells(summary[summary.max_row])
    for row in (
        [
            _("scorecard.total"),
            Decimal(doc["full_marks"]),
            Decimal(doc["total"]),
            doc["rate_shown"],
        ],
        [
            _("scorecard.grade"),
            doc["grade"],
            doc["grade_en"],
            _("scorecard.complete") if doc["complete"] else _("scorecard.status.missing"),
        ],
        [_("scorecard.subject"), str(doc["fiscal_year"]), doc["provider"], doc["pool"]],
    ):
        summary.append([xlsx_text(v) if isinstance(v, str) else v for v in row])
        text_cells(summary[summary.max_row])
    ev = wb.create_sheet(_("scorecard.sheet.evidence"))
    ev.append([_("scorecard.col.code"), _("scorecard.col.name"), _("scorecard.sheet.evidence")])
    for ind in doc["indicators"]:
        for e in ind["evidence"]:
            ev.append([ind["code"], ind["name"],
                       xlsx_text(json.dumps(e, ensure_ascii=False, default=str))])  # fmt: skip
            text_cells(ev[ev.max_row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
