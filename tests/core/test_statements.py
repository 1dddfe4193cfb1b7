"""Volume tiers (whole and graduated, amount and vCPU basis), rounding and the forecast."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from cloudtally.core.policy import VolumeTiers
from cloudtally.core.statements import linear_forecast, round_fen, volume_adjustment

D = Decimal
JAN = dt.date(2023, 1, 1)


def tiers(basis: str, mode: str) -> VolumeTiers:
    return VolumeTiers.model_validate(
        {
            "basis": basis,
            "mode": mode,
            "tiers": [{"above": 100, "cut": "0.02"}, {"above": 200, "cut": "0.05"}],
        }
    )


def adj(basis: str, mode: str, fee: str, vcpu_hours: str = "0") -> Decimal:
    return volume_adjustment(
        tiers(basis, mode), provider="p", month=JAN, tariff_version="v", fee=D(fee),
        vcpu_hours=D(vcpu_hours), hours_in_month=744,
    ).amount  # fmt: skip


def test_whole_amount() -> None:
    assert adj("amount", "whole", "100.00") == D("0.00")  # must exceed the boundary
    assert adj("amount", "whole", "150.00") == D("-3.00")  # 150 × 2 %
    assert adj("amount", "whole", "250.25") == D("-12.51")  # 250.25 × 5 % = 12.5125


def test_graduated_amount() -> None:
    # 250.25: (200 − 100) × 2 % = 2.00 + (250.25 − 200) × 5 % = 2.5125 -> 4.5125 -> 4.51
    assert adj("amount", "graduated", "250.25") == D("-4.51")
    assert adj("amount", "graduated", "150.00") == D("-1.00")


def test_vcpu_basis() -> None:
    # 744 h month; 186,000 vCPU-h = 250 average vCPUs.
    # whole: 250 > 200 -> 5 % of 1000 = 50
    assert adj("vcpu", "whole", "1000.00", "186000") == D("-50.00")
    # graduated: slices 100 vCPU at 2 % and 50 vCPU at 5 % of the per-vCPU fee 1000/250 = 4:
    # 100 × 4 × 0.02 = 8 + 50 × 4 × 0.05 = 10 -> 18.00
    assert adj("vcpu", "graduated", "1000.00", "186000") == D("-18.00")
    a = volume_adjustment(tiers("vcpu", "graduated"), provider="p", month=JAN,
                          tariff_version="v", fee=D("1000.00"), vcpu_hours=D("186000"),
                          hours_in_month=744)  # fmt: skip
    assert a.basis_value == D("250.00") and a.tier_reached == 1 and a.fee_after == D("982.00")


def test_round_fen_half_up_both_signs() -> None:
    assert round_fen(Fraction(1, 200)) == D("0.01")
    assert round_fen(Fraction(-1, 200)) == D("-0.01")
    assert round_fen(D("2.345")) == D("2.35")
    assert round_fen(D("2.3449999")) == D("2.34")


def test_linear_forecast() -> None:
    # FY 2022-10-01..2023-09-30 (365 d); 91 days elapsed through 2022-12-30.
    f = linear_forecast(2023, D("5823.00"), D("1600.00"), dt.date(2022, 10, 1),
                        dt.date(2023, 10, 1), dt.date(2022, 12, 30))  # fmt: skip
    # 1600 / 91 × 365 = 6417.582... -> 6417.58; remaining 5823 − 6417.58 = −594.58 (overrun)
    assert (f.days_elapsed, f.forecast, f.remaining) == (91, D("6417.58"), D("-594.58"))
