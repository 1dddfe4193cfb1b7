"""The contract's service levels as policy data, and SLA credits (no I/O).

The policy file's ``sla`` section is a list of versions, each with its
``effective_from`` date, like tariffs: availability targets per service class,
how silence is measured, fault-handling limits per severity and each provider's
credit rule (a fee reduction per step below a target). The version in force on a
month's last day applies to the whole month (as for volume tiers).

A credit is computed from a pool's measured availability in the month
(:mod:`cloudtally.core.availability`): the deepest step whose ``below`` the exact
figure is strictly under gives the share of the pool's month fee taken off, rounded
once ROUND_HALF_UP to 0.01 CNY. The derivation names the incidents and the step.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudtally.core.availability import Figure, Incident, below, pct_shown

Pct = Annotated[Decimal, Field(gt=0, le=100, decimal_places=4)]
Ratio = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
Ident = Annotated[str, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measurement(_Strict):
    """How silence becomes downtime."""

    tolerance_samples: Annotated[int, Field(ge=1, le=10)] = Field(
        default=2,
        description="a silence of at least this many sample intervals is downtime; a "
        "shorter one is jitter (2: one lost or late scrape is tolerated)",
    )
    default_interval_s: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=60, description="sample interval of a batch that declared none"
    )


class FaultLimit(_Strict):
    """Timeliness limits of one severity (None: the contract sets none)."""

    on_site_minutes: Annotated[int, Field(gt=0)] | None = None
    resolve_minutes: Annotated[int, Field(gt=0)] | None = None
    report_working_days: Annotated[int, Field(gt=0, le=60)] | None = None


class CreditStep(_Strict):
    below: Pct
    cut: Ratio  # share of the fee taken off


class CreditRule(_Strict):
    """One provider's credit rule: pool availability per month → a fee reduction."""

    provider: Ident
    basis: Literal["pool_month"] = "pool_month"
    service: str = "compute"
    steps: Annotated[list[CreditStep], Field(min_length=1)]
    pools: list[Ident] = Field(default_factory=list, description="empty: every pool")

    @field_validator("steps")
    @classmethod
    def _descending(cls, steps: list[CreditStep]) -> list[CreditStep]:
        for i in range(1, len(steps)):
            if steps[i].below >= steps[i - 1].below:
                raise ValueError(f"@[{i}].below: steps must go down ({steps[i - 1].below} first)")
        return steps


class SlaVersion(_Strict):
    version: Ident
    effective_from: dt.date
    targets: dict[str, Pct] = Field(
        default_factory=dict,
        description="availability target per service class, per cent a year "
        "(compute: virtual and physical compute, measured from the meter)",
    )
    pool_targets: dict[str, dict[str, Pct]] = Field(
        default_factory=dict, description="pool id → service → target, over ``targets``"
    )
    measurement: Measurement = Measurement()
    fault_handling: dict[str, FaultLimit] = Field(
        default_factory=dict, description="severity → limits"
    )
    fault_severity_aliases: dict[str, str] = Field(
        default_factory=dict, description="severity as providers write it → a key above"
    )
    credits: list[CreditRule] = Field(default_factory=list)

    def target(self, service: str = "compute", pool: str = "") -> Decimal | None:
        return self.pool_targets.get(pool, {}).get(service, self.targets.get(service))

    def credit_rule(self, provider: str) -> CreditRule | None:
        return next((c for c in self.credits if c.provider == provider), None)

    def severity(self, raw: str) -> str | None:
        """A provider's severity text → a policy key (None: unknown)."""
        s = raw.strip()
        if s in self.fault_handling:
            return s
        low = {k.lower(): v for k, v in self.fault_severity_aliases.items()}
        key = self.fault_severity_aliases.get(s) or low.get(s.lower())
        return key if key in self.fault_handling else None


class Sla(_Strict):
    versions: Annotated[list[SlaVersion], Field(min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Sla:
        for i in range(1, len(self.versions)):
            if self.versions[i].effective_from <= self.versions[i - 1].effective_from:
                raise ValueError(f"versions[{i}].effective_from must be after the previous")
        return self

    def at(self, day: dt.date) -> SlaVersion | None:
        """The version in force on a local date (None before the first)."""
        found = None
        for v in self.versions:
            if v.effective_from <= day:
                found = v
        return found


def month_last_day(month: dt.date) -> dt.date:
    nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


# ---- credits ---------------------------------------------------------------------------


def _round_fen(x: Fraction) -> Decimal:
    fen = (abs(x) * 200 + 1) // 2
    return (Decimal(int(fen) * (-1 if x < 0 else 1)) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class PoolCredit:
    pool: str
    availability_pct: Decimal | None  # truncated, for display
    step: int  # index of the step reached, -1 none
    below_pct: Decimal | None
    cut: Decimal
    fee: Decimal
    amount: Decimal  # ≤ 0
    incidents: tuple[Incident, ...]
    down_s: int

    def sentence(self, month: dt.date) -> str:
        if self.step < 0:
            return (
                f"{self.pool} {month:%Y-%m}: availability {self.availability_pct} % "
                "meets every step: no credit"
            )
        shown = ", ".join(
            f"{i.vm_id} {dt.datetime.fromtimestamp(i.start, dt.UTC):%Y-%m-%d %H:%M}Z "
            f"{i.duration_s // 60} min"
            for i in self.incidents[:5]
        )
        more = f" and {len(self.incidents) - 5} more" if len(self.incidents) > 5 else ""
        return (
            f"{self.pool} {month:%Y-%m}: availability {self.availability_pct} % "
            f"({len(self.incidents)} incident{'' if len(self.incidents) == 1 else 's'}, "
            f"{self.down_s // 60} min down: {shown}{more}) "
            f"is below {self.below_pct} %: step {self.step + 1} takes {self.cut * 100:.2f} % "
            f"of the pool's fee {self.fee} = {self.amount}"
        )


@dataclass(frozen=True)
class SlaCredit:
    provider: str
    month: dt.date
    sla_version: str
    amount: Decimal  # ≤ 0, Σ of the pools'
    fee: Decimal
    pools: tuple[PoolCredit, ...]

    def details(self) -> str:
        """JSON evidence stored with the statement line."""
        return json.dumps(
            {
                "rule": "sla_credit",
                "sla_version": self.sla_version,
                "pools": [
                    {
                        "pool": p.pool,
                        "availability_pct": str(p.availability_pct),
                        "step": p.step + 1,
                        "below_pct": None if p.below_pct is None else str(p.below_pct),
                        "cut": str(p.cut),
                        "fee": str(p.fee),
                        "amount": str(p.amount),
                        "down_s": p.down_s,
                        "incidents": [[i.vm_id, i.start, i.end, i.cause] for i in p.incidents[:50]],
                        "derivation": p.sentence(self.month),
                    }
                    for p in self.pools
                ],
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def sentence(self) -> str:
        return "; ".join(p.sentence(self.month) for p in self.pools if p.step >= 0)


def pool_credit(
    rule: CreditRule, pool: str, fig: Figure, fee: Decimal, incidents: tuple[Incident, ...]
) -> PoolCredit:
    """The credit of one pool-month: the deepest step the exact figure is below."""
    a = fig.availability
    step = -1
    if a is not None:
        for i, s in enumerate(rule.steps):
            if below(a, s.below):
                step = i
    cut = rule.steps[step].cut if step >= 0 else Decimal(0)
    amount = -_round_fen(Fraction(fee) * Fraction(cut)) if step >= 0 else Decimal("0.00")
    return PoolCredit(
        pool=pool,
        availability_pct=pct_shown(a),
        step=step,
        below_pct=rule.steps[step].below if step >= 0 else None,
        cut=cut,
        fee=fee,
        amount=amount + 0,
        incidents=incidents,
        down_s=fig.down_s,
    )


def month_credit(
    version: SlaVersion,
    provider: str,
    month: dt.date,
    figures: dict[str, Figure],
    fees: dict[str, Decimal],
    incidents: dict[str, tuple[Incident, ...]],
) -> SlaCredit | None:
    """A provider's SLA credit for a month from its pools' figures and fees (None: no rule)."""
    rule = version.credit_rule(provider)
    if rule is None:
        return None
    pools = []
    for pool in sorted(set(figures) | set(fees)):
        if rule.pools and pool not in rule.pools:
            continue
        pools.append(
            pool_credit(
                rule,
                pool,
                figures.get(pool, Figure()),
                fees.get(pool, Decimal("0.00")),
                incidents.get(pool, ()),
            )
        )
    total = sum((p.amount for p in pools), Decimal("0.00"))
    fee = sum((p.fee for p in pools), Decimal("0.00"))
    return SlaCredit(provider, month, version.version, total, fee, tuple(pools))


def sla_from_document(doc: Any) -> Sla:
    """The ``sla`` section (a list of versions or ``{versions: [...]}``)."""
    if isinstance(doc, list):
        doc = {"versions": doc}
    return Sla.model_validate(doc)
