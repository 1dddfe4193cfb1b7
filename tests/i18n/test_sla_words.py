"""An SLA credit's derivation told again in Chinese from the credit row's figures: the
same digits as the English that core.sla writes (and the bill line keeps)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudtally.core.availability import Incident
from cloudtally.core.sla import PoolCredit, SlaCredit
from cloudtally.evaluation.credits import CreditRow
from cloudtally.i18n.sla import credit_sentence, pool_sentence
from tests.i18n.english import digits, english_sentences

T0 = int(dt.datetime(2023, 3, 31, 15, 30, tzinfo=dt.UTC).timestamp())


def _row(incidents: int) -> dict:
    inc = tuple(Incident(f"vm-{n}", T0 + n * 3600, T0 + n * 3600 + 1800, "no_samples")
                for n in range(incidents))  # fmt: skip
    hit = PoolCredit("pool-1", Decimal("99.4680"), 0, Decimal("99.5"), Decimal("0.05"),
                     Decimal("81234.56"), Decimal("-4061.73"), inc, 1800 * incidents)  # fmt: skip
    fine = PoolCredit("pool-2", Decimal("99.9990"), -1, None, Decimal(0), Decimal("100.00"),
                      Decimal("0.00"), (), 0)  # fmt: skip
    credit = SlaCredit("provider-a", dt.date(2023, 3, 1), "2023.1", Decimal("-4061.73"),
                       Decimal("81334.56"), (hit, fine))  # fmt: skip
    return CreditRow(credit).as_row()


def test_credit_derivation_in_chinese_has_the_english_digits() -> None:
    for n in (1, 7):
        row = _row(n)
        zh = credit_sentence(row, "zh")
        assert sorted(digits(zh)) == sorted(digits(row["derivation"])), (zh, row["derivation"])
        assert "低于 99.5%：按第 1 档扣减资源池费用 81234.56 元的 5.00% = -4061.73 元" in zh, zh
        assert not english_sentences(zh), zh
    fine = _row(1)["pools"][1]
    assert (
        pool_sentence(fine, "2023-03-01", "zh")
        == "pool-2 2023-03：可用率 99.9990%，达到各档要求：不予赔付"
    )
