"""The first run's budget figures and the policy version that carries them."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from cloudtally.console.firstrun_budget import budget_for, demo_budgets, with_budget
from cloudtally.core.policy import load_policy
from cloudtally.policy import example_policy_text


@pytest.mark.parametrize("forecast", ["0.00", "3.10", "999.99", "1000.00", "86957.40", "1e7"])
def test_a_budget_never_rounds_across_its_forecast(forecast: str) -> None:
    f = D(forecast)
    assert budget_for(f, over=False) > f or f == 0
    assert budget_for(f, over=True) < f or f == 0


def test_most_bureaus_are_under_budget_and_every_fourth_over() -> None:
    forecasts = {"programme": D("90000"), **{f"b-{i:02}": D(1000 + i * 10) for i in range(8)}}
    programme, bureaus = demo_budgets(forecasts)
    assert programme > forecasts["programme"]
    over = [b for b, v in bureaus.items() if v < forecasts[b]]
    assert over == ["b-01", "b-05"]


def test_the_published_version_is_the_example_plus_one_budget() -> None:
    old = example_policy_text()
    text = with_budget(old, 2027, D("280000.00"), {"bureau-007": D("9000.00"), "局": D("1.00")},
                       "FY2027 budget published by the first run")  # fmt: skip
    new, before = load_policy(text), load_policy(old)
    assert new.budget(2027) and new.budget(2027).bureaus == {  # type: ignore[union-attr]
        "bureau-007": D("9000.00"), "局": D("1.00")}  # fmt: skip
    assert new.budget(2027).programme == D("280000.00")  # type: ignore[union-attr]
    assert [b.fiscal_year for b in new.budgets] == [2027, *(b.fiscal_year for b in before.budgets)]
    assert new.versions == before.versions and text.startswith(old.split("budgets:")[0])
    with pytest.raises(ValueError):
        with_budget(old.replace("budgets:\n", "budgets: []\nold_budgets:\n"), 2027, D(1), {}, "x")
    bare = with_budget("schema: x\n", 2027, D(1), {}, "r")
    assert bare.endswith(
        "budgets:\n  - fiscal_year: 2027    # r\n    programme: 1\n    bureaus: {}\n"
    )
