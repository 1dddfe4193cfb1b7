"""The one message catalogue: complete in both languages, numbers unchanged by translation,
compiled on first use, and the language chosen the way the docs say (docs/i18n.md)."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal

import pytest

import cloudtally.i18n as i18n
from cloudtally.core.rules import RULES
from cloudtally.i18n import check, keys, negotiate, translate
from cloudtally.i18n.numbers import money, plain, unit, wan
from tests.i18n.english import digits, english_sentences

PLACEHOLDER = re.compile(r"\{(\w+)(?:![rs])?\}")


def test_every_key_has_both_languages_and_keeps_every_placeholder():
    assert check.problems() == []
    assert set(keys("en")) == set(keys("zh"))


def test_every_rule_has_a_name_and_a_sentence_in_both_languages():
    en, zh = keys("en"), keys("zh")
    for rid in RULES:
        assert en[f"rule.{rid}"] and zh[f"rule.{rid}"] != en[f"rule.{rid}"]
        assert f"finding.{rid}" in en and f"finding.{rid}" in zh


def _fill(template: str) -> dict[str, str]:
    """A distinct number for every placeholder (units and names get words)."""
    values: dict[str, str] = {}
    for n, name in enumerate(dict.fromkeys(PLACEHOLDER.findall(template)), start=1):
        if name == "unit":
            values[name] = "vCPU-hour"
        elif name in ("resource_type",):
            values[name] = "memory"
        elif name == "missing_adjustment":
            values[name] = "tender_discount"
        elif name in ("billed_bureau", "metered_owner", "sources", "charge_category", "kinds"):
            values[name] = "x"
        else:
            values[name] = f"{n}{n}{n}.{n}5"
    return values


@pytest.mark.parametrize(
    "key", sorted(k for k in keys("en") if k.startswith(("finding.", "derivation.")))
)
def test_each_sentence_renders_in_both_languages_with_the_same_digits(key):
    values = _fill(keys("en")[key])
    en, zh = translate("en")(key, **values), translate("zh")(key, **values)
    assert "{" not in en and "{" not in zh
    assert sorted(digits(en)) == sorted(digits(zh)), (en, zh)
    assert not english_sentences(zh), zh


def test_numbers_keep_their_digits():
    assert money(Decimal("1234.5"), "zh") == "1,234.50 元"
    assert money(Decimal("1234.50"), "en") == "1,234.50 CNY"
    assert money(Decimal("0.123456"), "zh") == "0.123456 元"  # a unit price is not rounded
    assert plain(Decimal("1536.000")) == "1536" and plain("32.50") == "32.5"
    assert wan(Decimal("132833000.00"), "zh") == "13283.30万元（132,833,000.00 元）"
    assert wan(Decimal("132833000.00"), "en") == "132,833,000.00 CNY"
    assert unit("vCPU-hour", "zh") == "核·时" and unit("GB-month", "zh") == "GB·月"
    assert unit("核时", "zh") == "核时"  # a provider's own unit stays as written


@pytest.mark.parametrize(
    ("lang", "header", "want"),
    [
        ("zh", None, "zh"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR, zh;q=0.5", "zh"),
        (None, "en;q=0, zh;q=0.1", "zh"),
        (None, "garbage;;q=x", ""),
        (None, None, ""),
        ("EN", "zh", "en"),
    ],
)
def test_language_negotiation(lang, header, want):
    assert negotiate(lang, header, default="") == want


def test_cli_language(monkeypatch):
    for var in ("CLOUDTALLY_LANG", "LC_ALL", "LANG"):
        monkeypatch.delenv(var, raising=False)
    assert i18n.cli_lang() == "zh"  # the readers are Chinese
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert i18n.cli_lang() == "en"
    monkeypatch.setenv("CLOUDTALLY_LANG", "zh")
    assert i18n.cli_lang() == "zh" and i18n.cli_lang("en") == "en"


def test_a_fresh_clone_compiles_the_catalogue_on_first_use(tmp_path, monkeypatch):
    """No .mo (they are not committed): the first import compiles them from the .po."""
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    for mo in (tmp_path / "locale").rglob("*.mo"):
        mo.unlink()
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    monkeypatch.setattr(i18n, "_cache", {})
    assert i18n.gettext("nav.home", "zh") == "单位首页"
    assert (tmp_path / "locale/zh_CN/LC_MESSAGES/cloudtally.mo").exists()
    # a corrected .po (newer than its .mo) is recompiled
    po = tmp_path / "locale/zh_CN/LC_MESSAGES/cloudtally.po"
    po.write_text(po.read_text(encoding="utf-8").replace('"单位首页"', '"单位主页"'), "utf-8")
    monkeypatch.setattr(i18n, "_cache", {})
    assert i18n.gettext("nav.home", "zh") == "单位主页"


def test_an_unknown_key_shows_itself_and_a_missing_parameter_stays_visible():
    _ = translate("zh")
    assert _("no.such.key") == "no.such.key"
    assert (
        _("finding.Q1", billed_quantity="9")
        == "计费 9 {unit}，计量 {metered_quantity} {unit}：多收"
    )


def test_candidate_evidence_reads_in_both_languages():
    from cloudtally.i18n.candidates import explain

    right = {
        "kind": "rightsizing",
        "evidence": {
            "window_start": "2023-10-01", "window_end": "2024-01-01", "cpu_day": 7.5,
            "mem_day": 12.25, "current_vcpu": 8, "current_mem_gb": "32", "target_vcpu": 2,
            "target_mem_gb": "8",
            "method_rule": {"percentile": 95, "target_utilization": "0.6", "mem_step_gb": "1",
                            "min_vcpu": 1, "min_mem_gb": "1"},
        },
    }  # fmt: skip
    figures = {"cpu_avg": 1.2, "cpu_max": 4.5, "mem_avg": 3.0, "mem_max": 6.5, "coverage": 0.98}
    window = {"window_start": "2024-01-01", "window_end": "2024-01-15"}
    idle = {"kind": "idle", "evidence": {**window, **figures}}
    disk = {"kind": "storage_idle", "evidence": {"tier": "archive", "size_gb": "500",
            "months": [{}, {}]}}  # fmt: skip
    for c in (right, idle, disk):
        en, zh = explain(c, "en"), explain(c, "zh")
        assert en and zh and "{" not in en + zh
        assert sorted(digits(en)) == sorted(digits(zh)), (en, zh)
        assert not english_sentences(zh), zh
    assert "工作时间 p95 实际用量 ÷ 0.6" in explain(right, "zh")
    assert explain(disk, "zh") == "500 GB 归档存储连续 2 个月使用率低于阈值"


def test_alert_rules_carry_both_languages_from_the_catalogue():
    """alerts.yml holds the catalogue's texts: English as summary/description, Chinese as
    summary_zh/description_zh (python -m cloudtally.i18n.alerts writes them); promtool's
    rule tests (deploy/prometheus/tests) check both render with the same values."""
    import yaml

    from cloudtally.i18n.alerts import RULES_FILE, synced

    text = RULES_FILE.read_text(encoding="utf-8")
    assert synced(text) == text, "run: python -m cloudtally.i18n.alerts"
    en, zh = keys("en"), keys("zh")
    rules = [r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r]
    assert rules
    for r in rules:
        a, name = r["annotations"], r["alert"]
        assert a["summary"] == en[f"alert.{name}.summary"]
        assert a["description"] == en[f"alert.{name}.description"]
        assert a["summary_zh"] == zh[f"alert.{name}.summary"]
        assert a["description_zh"] == zh[f"alert.{name}.description"]
        assert not english_sentences(re.sub(r"\{\{.*?\}\}", "", a["summary_zh"]))
