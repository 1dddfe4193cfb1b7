"""Observed versus allocated capacity, and the rule that prices the difference (C1).

node_exporter (inside the guest) and libvirt (on the host) report the vCPUs and
memory a VM really has. Where that is less than the ledger's allocation, a
charge for the allocation bills capacity the VM does not have: over-billing by
the missing share, for the hours the shortfall was observed.

Why tolerances: a guest's MemTotal is its allocation minus what firmware and
the kernel reserve (typically 2-5 %), so memory counts as short only below
``mem_tolerance`` of the allocation; vCPUs are counted exactly.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from cloudtally.core.invoice import InvoiceLine, norm_resource_id
from cloudtally.core.verification import Finding

RULE_ID = "C1"
MEM_TOLERANCE = Decimal("0.90")  # observed memory below 90 % of allocation is short
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Observation:
    vm_id: str
    ts: int  # epoch s
    source: str
    vcpu: float | None
    mem_gb: float | None


@dataclass(frozen=True)
class Allocation:
    """A VM's allocation from ``ts`` on (one inventory event)."""

    vm_id: str
    ts: int
    bureau: str
    vcpu: int
    mem_gb: Decimal
    deleted: bool = False


@dataclass(frozen=True)
class Mismatch:
    vm_id: str
    resource: str  # vcpu | memory
    bureau: str  # owner at the time of the observations
    allocated: Decimal
    observed: Decimal
    first_seen: int
    last_seen: int
    observations: int
    sources: tuple[str, ...]
    interval: int = 0  # median spacing of the observations (0: a single one)

    @property
    def direction(self) -> str:
        return "below" if self.observed < self.allocated else "above"

    @property
    def missing_share(self) -> Decimal:
        """Share of the allocation the VM does not have (0 when it has more)."""
        if self.allocated <= 0 or self.observed >= self.allocated:
            return Decimal(0)
        return (self.allocated - self.observed) / self.allocated


def _short(resource: str, allocated: Decimal, observed: Decimal) -> bool:
    if resource == "vcpu":
        return observed != allocated
    return observed < allocated * MEM_TOLERANCE or observed > allocated


def find_mismatches(
    observations: Iterable[Observation], allocations: Iterable[Allocation]
) -> list[Mismatch]:
    """Runs of consecutive observations that disagree with the allocation then in force."""
    history: dict[str, list[Allocation]] = defaultdict(list)
    for a in allocations:
        history[a.vm_id].append(a)
    for events in history.values():
        events.sort(key=lambda a: a.ts)
    by_vm: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        by_vm[o.vm_id].append(o)
    out: list[Mismatch] = []
    for vm_id in sorted(by_vm):
        h = history.get(vm_id)
        if not h:
            continue
        times = [a.ts for a in h]
        for resource in ("vcpu", "memory"):
            run: list[tuple[Observation, Allocation, Decimal]] = []
            for o in sorted(by_vm[vm_id], key=lambda o: o.ts):
                i = bisect.bisect_right(times, o.ts) - 1
                value = o.vcpu if resource == "vcpu" else o.mem_gb
                if i < 0 or h[i].deleted or value is None:
                    continue
                a = h[i]
                allocated = Decimal(a.vcpu) if resource == "vcpu" else a.mem_gb
                observed = _exact(value)
                key_changed = run and (run[-1][1] is not a or run[-1][2] != observed)
                if key_changed or not _short(resource, allocated, observed):
                    _close(run, resource, out)
                    run = []
                if _short(resource, allocated, observed):
                    run.append((o, a, observed))
            _close(run, resource, out)
    return out


def _close(
    run: Sequence[tuple[Observation, Allocation, Decimal]], resource: str, out: list[Mismatch]
) -> None:
    if not run:
        return
    a = run[0][1]
    gaps = sorted(b[0].ts - x[0].ts for x, b in itertools.pairwise(run))
    out.append(
        Mismatch(
            vm_id=a.vm_id,
            resource=resource,
            bureau=a.bureau,
            allocated=Decimal(a.vcpu) if resource == "vcpu" else a.mem_gb,
            observed=run[0][2],
            first_seen=run[0][0].ts,
            last_seen=run[-1][0].ts,
            observations=len(run),
            sources=tuple(sorted({o.source for o, _, _ in run})),
            interval=gaps[len(gaps) // 2] if gaps else 0,
        )
    )


def capacity_findings(
    lines: Iterable[InvoiceLine], mismatches: Sequence[Mismatch], *, span_s: int = 3600
) -> list[Finding]:
    """C1: a vCPU/memory charge overlapping a shortfall bills the missing share.

    A shortfall seen from ``first_seen`` to ``last_seen`` covers that span plus
    one observation interval after it (``span_s`` when seen only once). Stake = line amount x
    missing share x the line's hours inside the span / the line's hours.
    """
    short = defaultdict(list)
    for m in mismatches:
        if m.missing_share > 0:
            short[(norm_resource_id(m.vm_id), m.resource)].append(m)
    out: list[Finding] = []
    for line in lines:
        ms = short.get((line.resource_key, line.resource_type))
        if not ms or line.amount <= 0:
            continue
        start, end = line.period_start.timestamp(), line.period_end.timestamp()
        hours = Decimal(str(end - start))
        if hours <= 0:
            continue
        for m in ms:
            overlap = min(end, m.last_seen + (m.interval or span_s)) - max(start, m.first_seen)
            if overlap <= 0:
                continue
            share = Decimal(str(overlap)) / hours
            stake = (line.amount * m.missing_share * share).quantize(CENT, ROUND_HALF_UP)
            if stake <= 0:
                continue
            out.append(
                Finding(
                    rule_id=RULE_ID,
                    amount_at_stake=stake,
                    line_numbers=(line.line_no,),
                    resource_id=line.resource_id,
                    resource_type=line.resource_type,
                    period_start=line.period_start,
                    period_end=line.period_end,
                    evidence={
                        "allocated": str(m.allocated),
                        "observed": str(m.observed),
                        "first_seen": _iso(m.first_seen),
                        "last_seen": _iso(m.last_seen),
                        "observations": str(m.observations),
                        "sources": ",".join(m.sources),
                        "billed_amount": str(line.amount),
                        "missing_share": str(m.missing_share.quantize(Decimal("0.0001"))),
                    },
                    message_id=RULE_ID,
                    bureau=m.bureau,
                    pool=line.pool,
                )
            )
    return out


def _exact(value: float) -> Decimal:
    """3 decimals, no trailing zeros: a count of 2.0 CPUs reads as 2."""
    d = Decimal(str(round(value, 3))).normalize()
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")
