"""A satisfaction survey as rows of text cells → answers per category (pure).

Two layouts, as buyers' and providers' survey exports come:

* **long**: one row per answer (optionally per question or unit), an answer column
  (答案 / 选项 / 满意度 / answer) and a count column (数量 / 份数 / 人数 / count) or a
  percentage column (比例 / 占比 / 百分比 / percent);
* **wide**: one row per question or unit, one column per answer (非常满意, 比较满意,
  一般, 不满意), holding counts, or percentages when a cell ends in ``%`` or
  ``basis="percent"`` is given.

Rows are summed per answer (several questions or units give one rate: each answer's
share of all answers). A cell that is not a number ≥ 0, an unknown answer or a file
without any answer is refused with its row number; nothing is imported then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from cloudtally.core.scorecard.inputs import ANSWERS

LABELS: dict[str, str] = {
    "非常满意": "very_satisfied", "很满意": "very_satisfied", "very satisfied": "very_satisfied",
    "very_satisfied": "very_satisfied",
    "比较满意": "fairly_satisfied", "满意": "fairly_satisfied", "较满意": "fairly_satisfied",
    "fairly satisfied": "fairly_satisfied", "satisfied": "fairly_satisfied",
    "fairly_satisfied": "fairly_satisfied",
    "一般": "neutral", "一般满意": "neutral", "基本满意": "neutral", "neutral": "neutral",
    "不满意": "dissatisfied", "非常不满意": "dissatisfied", "很不满意": "dissatisfied",
    "dissatisfied": "dissatisfied", "very dissatisfied": "dissatisfied",
}  # fmt: skip
ANSWER_HEADERS = ("答案", "选项", "满意度", "评价", "answer", "option", "rating")
COUNT_HEADERS = ("数量", "份数", "人数", "票数", "单位数", "count", "responses", "n")
PERCENT_HEADERS = ("比例", "占比", "百分比", "percent", "percentage", "share", "%")


class SurveyError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class ParsedSurvey:
    answers: dict[str, Decimal]
    basis: Literal["counts", "percent"]
    layout: Literal["long", "wide"]
    rows: int


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").split()).replace(" ", " ")


def answer_of(text: str) -> str | None:
    t = _norm(text)
    return LABELS.get(t) or LABELS.get(t.replace(" ", "_")) or LABELS.get(text.strip())


def _number(cell: str) -> tuple[Decimal, bool]:
    """(value, had a % sign); raises ValueError for anything but a finite number ≥ 0."""
    t = cell.strip().replace(",", "")
    pct = t.endswith("%")
    try:
        d = Decimal(t.rstrip("%").strip() or "0")
    except InvalidOperation:
        raise ValueError(f"not a number: {cell!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"not a number ≥ 0: {cell!r}")
    return d, pct


def _find(header: list[str], names: Sequence[str]) -> int | None:
    normed = [_norm(h) for h in header]
    for name in names:
        if name in normed:
            return normed.index(name)
    return None


def parse_survey(
    header: list[str],
    rows: Sequence[tuple[int, list[str]]],
    basis: Literal["auto", "counts", "percent"] = "auto",
) -> ParsedSurvey:
    totals: dict[str, Decimal] = {a: Decimal(0) for a in ANSWERS}
    problems: list[str] = []
    saw_pct = False
    wide = {i: answer_of(h) for i, h in enumerate(header) if answer_of(h)}
    ai = _find(header, ANSWER_HEADERS)
    cells_to_add: list[tuple[str, str, str]] = []  # (where, answer, cell)
    if ai is not None:
        ci, pi = _find(header, COUNT_HEADERS), _find(header, PERCENT_HEADERS)
        vi = ci if ci is not None else pi
        if vi is None:
            raise SurveyError(["header: an answer column needs a count or a percentage column"])
        saw_pct = ci is None
        layout: Literal["long", "wide"] = "long"
        for n, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            label = cells[ai] if ai < len(cells) else ""
            a = answer_of(label)
            if a is None:
                problems.append(f"row {n}: unknown answer {label!r}")
            else:
                cells_to_add.append((f"row {n}", a, cells[vi] if vi < len(cells) else ""))
    elif wide:
        layout = "wide"
        for n, cells in rows:
            for i, a in wide.items():
                where = f"row {n}, column {header[i]!r}"
                cells_to_add.append((where, str(a), cells[i] if i < len(cells) else ""))
    else:
        raise SurveyError(
            ["header: no answer column (答案/answer) and no column named by an answer "
             "(非常满意, 比较满意, 一般, 不满意)"]
        )  # fmt: skip
    for where, a, cell in cells_to_add:
        try:
            v, pct = _number(cell)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        saw_pct |= pct
        totals[a] += v
    if problems:
        raise SurveyError(problems)
    if sum(totals.values()) <= 0:
        raise SurveyError(["the survey has no answer"])
    chosen: Literal["counts", "percent"] = (
        basis if basis != "auto" else ("percent" if saw_pct else "counts")
    )
    return ParsedSurvey(totals, chosen, layout, len(rows))
