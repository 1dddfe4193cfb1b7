"""Rules of the quarterly rightsizing round (the seed's Hainan practice).

A round asks every bureau about its candidates; the accepted ones become the
providers' work order. The *next* round checks each accepted item twice, from two
independent sources: the inventory says whether the change happened (an idle VM
reclaimed, a VM at or below its target size), the bills say what it saved (the
average daily bill after the round against the review window's average).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Decision = Literal["accepted", "declined"]
Implementation = Literal["done", "partial", "not_done", "reclaimed"]
CENT = Decimal("0.01")
MONTH_DAYS = 30
MAX_REASON = 500


class DecisionError(ValueError):
    """A decision that cannot be recorded (unknown choice, missing reason)."""


def check_decision(decision: str, reason: str) -> tuple[Decision, str]:
    """A decline needs a reason (the buyer reads it); an acceptance may carry one."""
    text = " ".join(reason.split())
    if decision not in ("accepted", "declined"):
        raise DecisionError(f"decision must be accepted or declined, not {decision!r}")
    if decision == "declined" and not text:
        raise DecisionError("a declined candidate needs a reason")
    if len(text) > MAX_REASON:
        raise DecisionError(f"reason longer than {MAX_REASON} characters")
    return ("accepted" if decision == "accepted" else "declined"), text


@dataclass(frozen=True)
class Outcome:
    implementation: Implementation
    daily_before: Decimal
    daily_after: Decimal | None  # None: no bill after the round yet
    saved_month: Decimal | None  # (before - after) × 30, CNY

    def as_dict(self) -> dict[str, str | None]:
        return {
            "implementation": self.implementation,
            "daily_before": str(self.daily_before),
            "daily_after": None if self.daily_after is None else str(self.daily_after),
            "saved_month": None if self.saved_month is None else str(self.saved_month),
        }


def implementation(
    kind: str,
    *,
    vcpu: int,
    mem_gb: Decimal,
    target_vcpu: int,
    target_mem_gb: Decimal,
    now_vcpu: int | None,
    now_mem_gb: Decimal | None,
    deleted: bool,
) -> Implementation:
    """What the inventory shows of an accepted item (None sizes: the VM is gone)."""
    if deleted or now_vcpu is None or now_mem_gb is None:
        return "reclaimed"
    if kind == "idle":
        return "not_done"
    cpu_ok = now_vcpu <= target_vcpu
    mem_ok = now_mem_gb <= target_mem_gb
    if cpu_ok and mem_ok:
        return "done"
    if (
        (cpu_ok and target_vcpu < vcpu)
        or (mem_ok and target_mem_gb < mem_gb)
        or (now_vcpu < vcpu or now_mem_gb < mem_gb)
    ):
        return "partial"
    return "not_done"


def outcome(
    kind: str,
    *,
    vcpu: int,
    mem_gb: Decimal,
    target_vcpu: int,
    target_mem_gb: Decimal,
    now_vcpu: int | None,
    now_mem_gb: Decimal | None,
    deleted: bool,
    daily_before: Decimal,
    daily_after: Decimal | None,
) -> Outcome:
    """Implementation from the inventory, saving from the bills (a reclaimed VM with no
    bill since saves its whole daily bill)."""
    impl = implementation(
        kind, vcpu=vcpu, mem_gb=mem_gb, target_vcpu=target_vcpu, target_mem_gb=target_mem_gb,
        now_vcpu=now_vcpu, now_mem_gb=now_mem_gb, deleted=deleted,
    )  # fmt: skip
    after = daily_after
    if after is None and impl == "reclaimed":
        after = Decimal("0.00")
    saved = None
    if after is not None:
        saved = ((daily_before - after) * MONTH_DAYS).quantize(CENT, ROUND_HALF_UP)
    return Outcome(impl, daily_before, after, saved)
