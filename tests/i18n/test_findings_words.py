"""Findings from a real verification pass, told in both languages from their evidence.

The planted invoice of tests/core/test_verification.py (one line per rule) goes through the
real verifier; each finding's sentence is rendered from its stored form (rule id, message id,
evidence) in zh and en: every placeholder is filled by the evidence the rule wrote, the
numbers are the same in both, and the Chinese has no English sentence in it."""

from __future__ import annotations

import pytest

from cloudtally.core.verification import Finding, VerificationPolicy, verify
from cloudtally.i18n.findings import message_id, render
from tests.core.test_verification import JAN, VMS, planted_invoice
from tests.i18n.english import digits, english_sentences


def _findings() -> list[Finding]:
    exp, lines = planted_invoice()
    pol = VerificationPolicy(bill_unmetered_hours=False)
    return verify(lines, exp, JAN, vms=VMS, policy=pol, provider="p1").findings


def said(f: Finding, lang: str, stored_id: str | None = None) -> str:
    return render(
        f.rule_id, f.evidence, lang,
        stored_id=f.message_id if stored_id is None else stored_id,
        resource_id=f.resource_id, resource_type=f.resource_type,
    )  # fmt: skip


FINDINGS = _findings()


@pytest.mark.parametrize("f", FINDINGS, ids=[f.rule_id for f in FINDINGS])
def test_every_planted_finding_reads_in_both_languages(f: Finding):
    en, zh = said(f, "en"), said(f, "zh")
    assert "{" not in en and "{" not in zh, (en, zh)
    assert sorted(digits(en)) == sorted(digits(zh)), (en, zh)
    assert not english_sentences(zh), zh
    assert en != zh


def test_the_words_are_the_contracts():
    by = {f.rule_id: f for f in FINDINGS}
    assert said(by["Q1"], "zh") == "计费 6500 GB·h，计量 5952 GB·h：多收"  # the invoice's unit
    assert said(by["Q1"], "en") == "billed 6500 GB·h, metered 5952 GB·h"
    assert said(by["B2"], "zh") == (  # Beijing time: 16:00Z is midnight on the 20th
        "虚拟机 vm-005 已于 2023-12-20 00:00 删除，早于本计费时段开始：未计量已计费"
    )
    assert "中标折扣" in said(by["R1"], "zh") and "tender discount" in said(by["R1"], "en")
    assert "未计量已计费" in said(by["B1"], "zh")
    assert "已计量未计费" in said(by["M1"], "zh")


def test_a_run_stored_before_message_ids_reads_the_same():
    """Old rows have no message id: the rule and its evidence pick the sentence."""
    for f in FINDINGS:
        assert message_id(f.rule_id, "", f.evidence) == f.message_id
        for lang in ("zh", "en"):
            assert said(f, lang, stored_id="") == said(f, lang)
