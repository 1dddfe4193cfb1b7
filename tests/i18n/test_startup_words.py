"""What the operational commands print for a person — ``cloudtally up``'s start-up lines
(console URL, sign-in tokens, where the data is), ``simulate``'s and ``node``'s summaries —
follow the CLI's language (``--lang`` / ``CLOUDTALLY_LANG``, default zh) with the same
digits in both; URLs, paths and tokens stay values, byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudtally.collectors.simulate import SimulationReport
from cloudtally.console.firstrun import banner
from cloudtally.i18n import translate
from cloudtally.runner import banner_lines
from tests.i18n.english import digits, english_sentences

BASE = "http://127.0.0.1:8765"
# tokens as write_demo_tokens makes them (url-safe base64), a bureau with a pinyin id
PLAIN = {"admin": "q1w-E2_r3T4", "auditor": "Zx9_8-yU7", "bureau:jiaoyuju": "Ab3-dE_f9"}
RECORD = {"invoice_id": "inv-2024-03-demo", "round_id": "r-2024q1"}


def up_text(lang: str, monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[str]:
    monkeypatch.setenv("CLOUDTALLY_LANG", lang)
    storage = translate(lang)("cli.out.up.durable", folder=folder / "broker-s3")
    lines = banner_lines(BASE, folder, folder / "tokens.yaml", PLAIN, storage)
    return lines + banner(BASE, RECORD, PLAIN)


def test_up_lines_in_both_languages_keep_urls_and_tokens(monkeypatch, tmp_path: Path) -> None:
    folder = tmp_path / "数据 2024"  # an operator's folder name: spaces and Chinese
    zh, en = up_text("zh", monkeypatch, folder), up_text("en", monkeypatch, folder)
    assert len(zh) == len(en)
    assert digits("\n".join(zh)) == digits("\n".join(en))
    for text in ("\n".join(zh), "\n".join(en)):  # every value a person copies, as it is
        for value in (f"{BASE}/", f"{BASE}/docs", f"{BASE}/readyz", f"{BASE}/metrics",
                      str(folder / "metrics.token"), str(folder / "tokens.yaml"),
                      *PLAIN.values(), *RECORD.values(), "bureau:jiaoyuju"):  # fmt: skip
            assert value in text, (value, text)
    assert f"  控制台        {BASE}/   （中文；右上角可切换 English）" in zh
    assert f"    以采购方身份登录：{PLAIN['admin']}" in zh
    assert f"    以使用单位 bureau:jiaoyuju 身份登录：{PLAIN['bureau:jiaoyuju']}" in zh
    assert f"  console       {BASE}/   (Chinese; English at the top right)" in en
    said = [ln for ln in zh if "curl " not in ln]  # the curl commands are commands, not prose
    assert not english_sentences("\n".join(said)), said
    # the URL stays the last word of its line, where a script (or a terminal click) finds it
    assert re.search(rf" {re.escape(BASE)}/docs$", "\n".join(zh), re.M)
    assert re.search(rf" {re.escape(BASE)}/metrics ", "\n".join(zh))  # a space ends the URL


def test_simulate_summary_in_both_languages(monkeypatch) -> None:
    report = SimulationReport(
        seed=7, vms=300, start=1_709_222_400, end=1_709_308_800, interval=60, messages=1441,
        samples_sent=432_017, good_samples=431_940, good_disk_samples=28_800,
        inventory_events=300, bad_inventory_events=2, seconds=12.34,
    )  # fmt: skip
    zh, en = report.summary("zh"), report.summary("en")
    assert digits(zh) == digits(en)
    assert "样本：正常 431940 条（已发送 432017 行），磁盘样本：28800 条，消息：1441 条" in zh
    assert "took 12.3s (35,003 samples/s)" in en and "耗时 12.3 秒（每秒 35,003 个样本）" in zh
    assert not english_sentences(zh), zh
    monkeypatch.setenv("CLOUDTALLY_LANG", "en")
    assert report.summary() == en  # the CLI's language when none is asked
