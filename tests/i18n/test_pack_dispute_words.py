"""Two more things that leave the system for a reader outside it: the evidence pack's
README (Chinese first, then English) and the provider dispute export (争议清单), whose
Chinese form has no English sentence (commands and evidence JSON aside), from a real
verification on the real stores; the same figures in both languages."""

from __future__ import annotations

import csv
import io

import pytest

from cloudtally.audit.pack import readme, readme_in
from cloudtally.i18n import gettext
from cloudtally.invoices.report import DISPUTE_KEYS, dispute_csv, dispute_rows
from tests.i18n.english import digits, english_sentences
from tests.i18n.test_exports_words import verified  # noqa: F401  (the fixture)

HEAD = "9f2c" * 16  # a ledger head as the ledger writes it (sha-256 hex)


@pytest.mark.parametrize(
    ("scope", "month", "seq"),
    [({"bureau": "edu"}, "2024-03", "12"), ({"provider": "provider-a"}, "2024-03", ""),
     ({"invoice": "inv-7f3a"}, "", "12, 13")],
)  # fmt: skip
def test_pack_readme_chinese_part_has_no_english(scope, month, seq) -> None:
    zh, en = readme_in("zh", scope, month, seq, HEAD), readme_in("en", scope, month, seq, HEAD)
    assert readme(scope, month, seq, HEAD) == f"{zh}\n\n{en}"  # Chinese first
    prose = [ln for ln in zh.splitlines() if not ln.startswith("    ")]  # commands as written
    assert not english_sentences("\n".join(prose)), prose
    assert digits(zh) == digits(en) and HEAD in zh and next(iter(scope.values())) in zh


def test_dispute_export_in_chinese_has_no_english(verified) -> None:  # noqa: F811
    store, _invoice_id, _rules = verified
    rows = dispute_rows(store, "provider-a")
    assert rows and all(r["amount_at_stake"] > 0 for r in rows)
    zh = list(csv.reader(io.StringIO(dispute_csv(rows, "zh").decode("utf-8-sig"))))
    en = list(csv.DictReader(io.StringIO(dispute_csv(rows, "en").decode("utf-8-sig"))))
    assert zh[0] == [gettext(f"report.col.{k}", "zh") for k in DISPUTE_KEYS]
    assert list(en[0]) == DISPUTE_KEYS  # English: the field names, for scripts
    ev = zh[0].index("证据")  # the evidence JSON is data (English keys)
    found = [c for row in zh for i, c in enumerate(row) if i != ev and english_sentences(c)]
    assert not found, found[:5]
    amounts = zh[0].index(gettext("report.col.amount_at_stake", "zh"))
    assert [r[amounts] for r in zh[1:]] == [r["amount_at_stake"] for r in en]
    msg = zh[0].index(gettext("report.col.message", "zh"))
    same = [sorted(digits(r[msg])) for r in zh[1:]] == [sorted(digits(r["message"])) for r in en]
    assert same  # the same figures (word order is each language's)
