"""The first run's budget: this fiscal year's budgets published as a new policy version.

The packaged policy budgets FY2023/FY2024 only, so a demo of today showed "未设预算".
Budgets are policy, so the first run does what an operator would: it writes a policy
file that is the one in force plus this fiscal year's budget entry, records it in the
ledger (``policy_activated``, with the reason) and ``up`` then runs on that file.

The figures come from the history's own run-rate (the linear year-end forecast the
console shows): the programme and most bureaus get some headroom, every fourth bureau
(by name) a budget below its forecast, so home shows both states. Rounded to whole
thousands away from the forecast (floor when over, ceiling when under), so rounding
never moves a bureau across its budget.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

FILE = "policy.yaml"  # in the data folder, beside firstrun.json
HEADROOM, SHORTFALL = Decimal("1.15"), Decimal("0.90")  # budget / forecast, under and over
OVER_EVERY = 4  # every fourth bureau by name is over budget
THOUSAND = Decimal(1000)


def budget_for(forecast: Decimal, over: bool) -> Decimal:
    """A plausible budget for a year-end ``forecast``: below it if ``over``, else above."""
    raw = forecast * (SHORTFALL if over else HEADROOM)
    mode = ROUND_FLOOR if over else ROUND_CEILING
    rounded = (raw / THOUSAND).quantize(Decimal(1), rounding=mode) * THOUSAND
    if over and rounded <= 0:  # a small bureau: whole yuan, still below the forecast
        rounded = raw.quantize(Decimal(1), rounding=ROUND_FLOOR)
    return rounded.quantize(Decimal("0.01"))


def demo_budgets(forecasts: dict[str, Decimal]) -> tuple[Decimal, dict[str, Decimal]]:
    """The programme's and each bureau's budget from their forecasts (``programme`` key)."""
    bureaus = sorted(b for b in forecasts if b != "programme")
    per = {b: budget_for(forecasts[b], i % OVER_EVERY == 1) for i, b in enumerate(bureaus)}
    return budget_for(forecasts["programme"], False), per


def with_budget(text: str, fiscal_year: int, programme: Decimal, bureaus: dict[str, Decimal],
                reason: str) -> str:  # fmt: skip
    """``text`` with one more ``budgets`` entry (comments and layout kept as they are)."""
    entry = [f"  - fiscal_year: {fiscal_year}    # {reason}", f"    programme: {programme}"]
    entry += ["    bureaus:" if bureaus else "    bureaus: {}"]
    entry += [f"      {json.dumps(b, ensure_ascii=False)}: {v}" for b, v in bureaus.items()]
    block = "\n".join(entry) + "\n"
    head = re.search(r"^budgets:[ \t]*(#.*)?\n", text, re.M)
    if head:
        return text[: head.end()] + block + text[head.end() :]
    if re.search(r"^budgets:", text, re.M):  # an inline list: not ours to rewrite
        raise ValueError("the policy's budgets are not a block list")
    return text.rstrip("\n") + "\n\nbudgets:\n" + block


def publish(d: Any) -> str:
    """The first-run step: this fiscal year's budgets as a new policy version, activated."""
    from cloudtally.audit.ledger import policy_text, record_policy
    from cloudtally.billing.statements import budget_status
    from cloudtally.core.policy import load_policy

    if d.settings.policy_file is not None:  # the operator's own policy: theirs to budget
        return "budget left to the configured policy file"
    fy = d.pol.fiscal_year_of(d.today - dt.timedelta(days=1))  # the fiscal year home shows
    if d.pol.budget(fy) is not None:
        return f"budget FY{fy} already in the policy"
    forecasts = {s.scope: s.forecast.forecast for s in budget_status(d.store, d.pol, fy)}
    programme, bureaus = demo_budgets(forecasts)
    reason = f"FY{fy} budget published by the first run from the history's run-rate"
    old = policy_text(None)
    text = with_budget(old, fy, programme, bureaus, reason)
    if load_policy(text).budget(fy) is None:  # the loader agrees, or nothing is published
        raise ValueError(f"FY{fy} budget did not load")
    path = Path(d.settings.data_dir) / FILE
    path.write_text(text, encoding="utf-8")
    record_policy(d.store, old, d.pol.name, actor="first run")  # the version it was rated by
    record_policy(d.store, text, d.pol.name, actor="first run", reason=reason)
    over = sum(1 for b, v in bureaus.items() if v < forecasts[b])
    d.record |= {"policy_file": str(path), "budget_fy": fy}
    return f"budget FY{fy}: programme {programme}, {len(bureaus)} bureaus ({over} over)"
