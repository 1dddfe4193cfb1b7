"""The scorecard report in either language from the same card: every figure text and
remark comes from the catalogue (ids + figures), with the same digits in both; the zh
HTML and XLSX carry no English sentence, the en ones no Chinese label of their own."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from cloudtally.devtools.scorecard_sample import sample_card
from cloudtally.scorecard.report import card_html, card_json, card_xlsx
from tests.i18n.english import digits, english_sentences

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_figures_and_remarks_in_both_languages() -> None:
    card = sample_card()
    zh, en = card_json(card, lang="zh"), card_json(card, lang="en")
    for z, e in zip(zh["indicators"], en["indicators"], strict=True):
        assert sorted(digits(z["figure_text"])) == sorted(digits(e["figure_text"])), (z, e)
        assert not english_sentences(z["figure_text"] + " " + z["status_text"]), z
        assert not CJK.search(e["figure_text"] + e["status_text"]), e
        if z["note"] != e["note"]:  # a rule's remark (a comment or a source is data as given)
            assert not english_sentences(z["note"]) and not CJK.search(e["note"]), (z, e)
    by = {i["code"]: i for i in en["indicators"]}
    assert by["satisfaction"]["figure_text"].startswith("satisfaction ")


def test_html_and_xlsx_in_the_asked_language() -> None:
    card = sample_card()
    html_zh = card_html(card_json(card, lang="zh"))
    body = re.sub(r"<style>.*?</style>", "", html_zh, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    found = [s for s in english_sentences(text) if "=" not in s]  # evidence key=value aside
    assert not found, found
    html_en = card_html(card_json(card, lang="en"))
    assert "Summary" in html_en and "Grade" in html_en and 'lang="en"' in html_en
    assert "评价情况总表" not in html_en and "评价总得分" not in html_en
    zh_book = load_workbook(io.BytesIO(card_xlsx(card_json(card, lang="zh"))))
    en_book = load_workbook(io.BytesIO(card_xlsx(card_json(card, lang="en"))))
    assert zh_book.sheetnames == ["评分表", "汇总", "佐证"]
    assert en_book.sheetnames == ["Scorecard", "Summary", "Evidence"]
    header = [c.value for c in next(zh_book["评分表"].iter_rows(max_row=1))]
    assert header[:3] == ["一级指标", "二级指标", "三级指标"] and "来源" in header
