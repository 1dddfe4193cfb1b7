"""Verify a provider's invoice against independently metered, re-rated usage (no I/O).

Inputs are plain values: the invoice's :class:`~cloudtally.core.invoice.InvoiceLine`
rows and :class:`ExpectedCharge` rows (what cloudtally's own metering and the
contract tariff say each VM resource should cost over a period, built by the
store adapter from ``bill_lines`` and ``usage_hourly``), plus the VM lifecycle
for resources the invoice names but metering has no charge for.

Every difference becomes a :class:`Finding` with the rule that found it, its
evidence and a signed amount at stake (positive = over-billed). For a matched
charge the stakes add up exactly to *billed − expected*:

    billed − expected = arithmetic error                       (A1)
                      + (q_billed − q_metered) × expected rate  (Q1/Q2/G1/B2)
                      + q_billed × (p_billed − p_catalog) × f   (U1)
                      + the rest: a missing adjustment          (R1/R2/R3) or X1

where *f* is the expected net factor (tender discount × cuts). A missing
adjustment is recognised when the billed amount equals the billed gross times
the product of a subset of the contract's adjustment factors.

Metering-gap policy: an hour with allocation but no samples is a gap. When
the tariff bills unmetered hours on allocation (``bill_unmetered_hours``),
the expected quantity already includes them and a charge whose gap share is
above ``gap_info_threshold`` gets an informational G2 finding (no money at
stake). When it does not, billed quantity covered only by gap hours is G1
(billed during a metering gap) rather than Q1.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import itertools
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from cloudtally.core.invoice import InvoiceLine, money, norm_resource_id
from cloudtally.core.rules import (  # noqa: F401  (Rule: re-exported)
    RULE_ORDER,
    RULES,
    Rule,
    a1_arithmetic,
    o1_wrong_bureau,
    s1_sla_credit_missing,
)
from cloudtally.core.units import hours_of, rescale

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One contract adjustment applied to a charge, as a multiplier on the amount."""

    kind: str  # tender_discount | low_utilization_cut | volume_tier
    factor: Decimal  # 0.55 = pay 55 %; a 20 % cut is 0.80
    rule: str = ""  # the policy entry that applied it (evidence)


ADJUSTMENT_RULES = {
    "tender_discount": "R1",
    "low_utilization_cut": "R2",
    "volume_tier": "R3",
}


@dataclass(frozen=True, slots=True)
class VmLifecycle:
    """What inventory says of a VM: when it existed and who owns it."""

    vm_id: str
    created_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    bureau: str = ""
    pool: str = ""
    provider: str = ""


# Not frozen (but hashable and never mutated): a frozen dataclass's __init__ sets
# each field through object.__setattr__, which made building 100,000 of them cost
# as much as verifying them.
@dataclass(slots=True, unsafe_hash=True)
class ExpectedCharge:
    """What one VM resource should cost over one period, by metering and contract.

    ``quantity`` is the billable quantity by the tariff (e.g. vCPU-hours);
    ``unit_price`` the catalog (list) price; ``list_amount`` = quantity × price;
    ``discounted_amount`` after the tender discount; ``expected_amount`` after
    every adjustment. ``gap_quantity`` is what the metering-gap hours would add
    (or did add, when unmetered hours are billed). ``rounding_slack`` is the
    rounding noise from summing per-day bill lines to this period.
    """

    resource_id: str
    resource_type: str
    period_start: dt.datetime
    period_end: dt.datetime
    quantity: Decimal
    unit_price: Decimal
    list_amount: Decimal
    discounted_amount: Decimal
    expected_amount: Decimal
    unit: str = ""
    adjustments: tuple[Adjustment, ...] = ()
    metered_hours: Decimal = ZERO
    gap_hours: Decimal = ZERO
    gap_quantity: Decimal = ZERO
    created_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    bureau: str = ""
    pool: str = ""
    provider: str = ""
    tariff_version: str = ""
    rounding_slack: Decimal = ZERO
    unit_hours: Decimal = Decimal(1)  # hours in one unit of quantity (720: a catalog month)
    owners: tuple[str, ...] = ()  # every bureau that owned the VM in the period (metered)

    @property
    def resource_key(self) -> str:
        return norm_resource_id(self.resource_id)

    @property
    def net_factor(self) -> Decimal:
        f = Decimal(1)
        for a in self.adjustments:
            f *= a.factor
        return f


@dataclass(frozen=True, slots=True)
class ExpectedCredit:
    """An invoice-level reduction the contract requires (a volume tier), ``amount`` ≤ 0.

    Volume tiers cut a provider's whole month, so they appear on the invoice
    as credit/adjustment lines rather than inside each charge.
    """

    kind: str  # volume_tier
    amount: Decimal
    period_start: dt.datetime
    period_end: dt.datetime
    provider: str = ""
    tariff_version: str = ""
    detail: str = ""


CREDIT_CATEGORIES = ("credit", "adjustment")


@dataclass(frozen=True)
class Tolerances:
    """Differences at or below these are rounding, not findings."""

    money_abs: Decimal = Decimal("0.01")  # one fen
    money_rel: Decimal = ZERO  # of the reference amount
    quantity_abs: Decimal = Decimal("0.001")
    quantity_rel: Decimal = ZERO
    price_rel: Decimal = Decimal("0.000001")

    def money_ok(self, diff: Decimal, reference: Decimal = ZERO, slack: Decimal = ZERO) -> bool:
        if not self.money_rel and self.money_abs >= 0:  # the usual case, same answer
            return abs(diff) <= self.money_abs + slack
        return abs(diff) <= max(self.money_abs, self.money_rel * abs(reference)) + slack

    def quantity_ok(self, diff: Decimal, reference: Decimal) -> bool:
        if not self.quantity_rel and self.quantity_abs >= 0:
            return abs(diff) <= self.quantity_abs
        return abs(diff) <= max(self.quantity_abs, self.quantity_rel * abs(reference))

    def price_ok(self, diff: Decimal, reference: Decimal) -> bool:
        if not self.price_rel:
            return abs(diff) <= _PRICE_FLOOR
        return abs(diff) <= max(_PRICE_FLOOR, self.price_rel * abs(reference))


_PRICE_FLOOR = Decimal("0.000001")


@dataclass(frozen=True)
class VerificationPolicy:
    tolerances: Tolerances = field(default_factory=Tolerances)
    bill_unmetered_hours: bool = True
    gap_info_threshold: Decimal = Decimal("0.10")  # share of the period's hours
    # The contract's month in hours (policy ``hours_per_month``): what an invoice's
    # 核·月 means when the catalog price is hourly. A monthly catalog's own divisor wins.
    month_hours: Decimal = Decimal(720)
    # The tariff's partial-hour rule (prorate | started_hour). Expected quantities come from
    # the bill lines the rating wrote with it, so verification applies the same rule by
    # construction; findings about a VM's first or last hours name it as evidence.
    partial_hours: str = "prorate"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    amount_at_stake: Decimal  # positive = over-billed, negative = under-billed
    line_numbers: tuple[int, ...]
    resource_id: str
    resource_type: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    evidence: Mapping[str, str]
    # The sentence's template (``finding.<id>`` in the catalogue, cloudtally.i18n.findings):
    # the rule id, or its variant (``A1.contracted``). Rendered at read time from evidence.
    message_id: str
    bureau: str = ""
    pool: str = ""
    provider: str = ""

    @property
    def kind(self) -> str:
        return RULES[self.rule_id].kind

    @property
    def severity(self) -> str:
        return RULES[self.rule_id].severity

    def sort_key(self) -> tuple[int, int, str, str, dt.datetime]:
        first = min(self.line_numbers) if self.line_numbers else 1 << 40
        start = self.period_start or dt.datetime.min.replace(tzinfo=dt.UTC)
        return (
            first,
            RULE_ORDER[self.rule_id],
            norm_resource_id(self.resource_id),
            self.resource_type,
            start,
        )


@dataclass
class GroupTotals:
    """Billed, verified, over- and under-billing for one (provider, pool, bureau)."""

    billed: Decimal = ZERO
    expected: Decimal = ZERO
    over: Decimal = ZERO
    under: Decimal = ZERO
    lines: int = 0
    findings: int = 0
    unverified: Decimal = ZERO  # billed but not checkable (V1/V2): neither verified nor over

    @property
    def verified(self) -> Decimal:
        return self.billed - self.over - self.under - self.unverified


@dataclass
class VerificationResult:
    findings: list[Finding]
    totals: dict[tuple[str, str, str], GroupTotals]
    lines: int
    matched_lines: int

    @property
    def billed_total(self) -> Decimal:
        return sum((t.billed for t in self.totals.values()), ZERO)

    @property
    def over_total(self) -> Decimal:
        return sum((t.over for t in self.totals.values()), ZERO)

    @property
    def under_total(self) -> Decimal:
        return sum((t.under for t in self.totals.values()), ZERO)

    @property
    def unverified_total(self) -> Decimal:
        return sum((t.unverified for t in self.totals.values()), ZERO)

    @property
    def verified_total(self) -> Decimal:
        return self.billed_total - self.over_total - self.under_total - self.unverified_total


def _s(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def _hours(start: dt.datetime, end: dt.datetime) -> Decimal:
    return Decimal(int((end - start).total_seconds())) / 3600


Owner = tuple[str, str, str]  # (provider, pool, bureau) a finding and its money belong to
_D6 = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class _Display:
    """Catalog-unit figures restated in the invoice's own unit (e.g. vCPU-month → 核·时)."""

    unit: str
    unit_hours: Decimal  # hours of one catalog unit
    quantity_hours: Decimal = Decimal(1)  # hours of one invoice quantity unit
    price_hours: Decimal = Decimal(1)  # hours of the invoice's price unit

    def quantity(self, q: Decimal) -> Decimal:
        return _shown(rescale(q, self.unit_hours, self.quantity_hours))

    def price(self, p: Decimal) -> Decimal:
        return _shown(rescale(p, self.price_hours, self.unit_hours))


def _shown(value: Decimal) -> Decimal:
    """Exact when it has at most 6 decimals, else rounded to 6 for display."""
    return value if value == value.quantize(_D6) else value.quantize(_D6)


_line_no = operator.attrgetter("line_no")
_first = operator.itemgetter(0)


class _Verifier:
    """One verification pass; lines and expected charges may come in key partitions.

    Every rule but the invoice-level credit check looks only at one resource's
    lines, expected charges and lifecycle, so a caller may feed the invoice in
    partitions by resource key (:meth:`partition`) and get the same result as
    one pass, with memory bounded by the largest partition.
    """

    def __init__(
        self,
        billing_period: tuple[dt.datetime, dt.datetime],
        policy: VerificationPolicy,
        provider: str,
        credits: Sequence[ExpectedCredit] = (),
    ) -> None:
        self.credits = list(credits)
        self.credit_lines: list[InvoiceLine] = []
        self.tol = policy.tolerances
        self.policy = policy
        self.provider = provider
        self.bp_start, self.bp_end = billing_period
        self.vms: dict[str, VmLifecycle] = {}
        self.index: dict[tuple[str, str], list[ExpectedCharge]] = {}
        self.starts: dict[tuple[str, str], list[dt.datetime]] = {}
        self.findings: list[Finding] = []
        self.totals: dict[tuple[str, str, str], GroupTotals] = defaultdict(GroupTotals)
        self.matched = 0
        self.lines = 0
        self._keys: dict[str, str] = {}

    def _norm(self, rid: str) -> str:
        key = self._keys.get(rid)
        if key is None:
            if len(self._keys) > 500_000:
                self._keys.clear()
            key = self._keys[rid] = norm_resource_id(rid)
        return key

    def partition(
        self,
        lines: Iterable[InvoiceLine],
        expected: Sequence[ExpectedCharge],
        vms: Mapping[str, VmLifecycle],
    ) -> None:
        """Verify one partition: every line, charge and VM of a set of resource keys."""
        vm_map = dict(vms)
        for e in expected:
            if e.resource_id not in vm_map:
                vm_map[e.resource_id] = VmLifecycle(
                    e.resource_id, e.created_at, e.deleted_at, e.bureau, e.pool, e.provider
                )
        norm = self._norm
        self.vms = {norm(k): v for k, v in vm_map.items()}
        index: dict[tuple[str, str], list[ExpectedCharge]] = defaultdict(list)
        for e in expected:
            index[(norm(e.resource_id), e.resource_type)].append(e)
        self.index = dict(index)
        self.starts = {}
        for k, charges in self.index.items():
            if len(charges) > 1:
                charges.sort(key=lambda c: c.period_start)
            self.starts[k] = [c.period_start for c in charges]
        self._run(lines)
        self.vms, self.index, self.starts = {}, {}, {}

    # -- attribution
    def _owner(self, key: str, e: ExpectedCharge | None) -> tuple[str, str, str]:
        if e is not None:
            return (e.provider or self.provider, e.pool, e.bureau)
        vm = self.vms.get(key)
        if vm is not None:
            return (vm.provider or self.provider, vm.pool, vm.bureau)
        return (self.provider, "", "")

    def add(
        self,
        rule_id: str,
        stake: Decimal,
        lines: Sequence[InvoiceLine],
        owner: tuple[str, str, str],
        evidence: dict[str, object],
        message_id: str,
        *,
        resource_id: str = "",
        resource_type: str = "",
        period: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> None:
        first = lines[0] if lines else None
        f = Finding(
            rule_id=rule_id,
            amount_at_stake=stake,
            line_numbers=tuple(sorted(ln.line_no for ln in lines)),
            resource_id=resource_id or (first.resource_id if first else ""),
            resource_type=resource_type
            or (first.resource_type or first.resource_type_raw if first else ""),
            period_start=period[0] if period else (first.period_start if first else None),
            period_end=period[1] if period else (first.period_end if first else None),
            evidence={k: _s(v) for k, v in evidence.items()},
            message_id=message_id,
            provider=owner[0],
            pool=owner[1],
            bureau=owner[2],
        )
        self.findings.append(f)
        t = self.totals[owner]
        t.findings += 1
        counted = RULES[rule_id].counted
        if counted == "unverified":
            t.unverified += stake
            return
        if not counted:
            return
        if stake > 0:
            t.over += stake
        else:
            t.under += stake

    # -- the pass over lines
    def _run(self, lines: Iterable[InvoiceLine]) -> None:
        groups: dict[tuple[str, str, dt.datetime], list[InvoiceLine]] = defaultdict(list)
        slot_charge: dict[tuple[str, str, dt.datetime], ExpectedCharge] = {}
        n = 0
        starts_of, index, totals = self.starts, self.index, self.totals
        provider, credits, bp_start, bp_end = (
            self.provider,
            self.credits,
            self.bp_start,
            self.bp_end,
        )
        for ln in sorted(lines, key=_line_no):
            n += 1
            key = ln.resource_key
            e = None
            if ln.resource_type:  # inline _slot: the charge whose period holds the start
                starts = starts_of.get((key, ln.resource_type))
                if starts:
                    i = bisect.bisect_right(starts, ln.period_start) - 1
                    if i >= 0:
                        e = index[(key, ln.resource_type)][i]
                        if not ln.period_start < e.period_end:
                            e = None
            owner = (e.provider or provider, e.pool, e.bureau) if e else self._owner(key, None)
            t = totals[owner]
            t.billed += ln.amount
            t.lines += 1
            if credits and ln.charge_category in CREDIT_CATEGORIES:
                self.credit_lines.append(ln)
                continue
            if ln.charge_category != "usage" or ln.charge_class == "correction":
                self.add(
                    "V2",
                    ln.amount,
                    [ln],
                    owner,
                    {
                        "charge_category": ln.charge_category,
                        "charge_class": ln.charge_class,
                        "billed_amount": ln.amount,
                    },
                    "V2",
                )
                continue
            if ln.period_start < bp_start or ln.period_end > bp_end:
                self.add(
                    "P1",
                    ln.amount,
                    [ln],
                    owner,
                    {
                        "line_period_start": ln.period_start,
                        "line_period_end": ln.period_end,
                        "billing_period_start": self.bp_start,
                        "billing_period_end": self.bp_end,
                        "billed_amount": ln.amount,
                    },
                    "P1",
                )
                continue
            if not ln.resource_type and ln.resource_id and ln.resource_key not in self.vms:
                self._unmatched(ln, owner)  # not in inventory: billed but not metered (B1)
                continue
            if not ln.resource_type:
                self.add(
                    "V1",
                    ln.amount,
                    [ln],
                    owner,
                    {"resource_type": ln.resource_type_raw, "billed_amount": ln.amount},
                    "V1",
                )
                continue
            if e is None:
                self._unmatched(ln, owner)
                continue
            gk = (key, ln.resource_type, e.period_start)
            groups[gk].append(ln)
            slot_charge[gk] = e
        # Lines came in line order, so groups were created in order of their first line.
        for gk, group in groups.items():
            self._group(group, slot_charge[gk])
        billed_slots = groups.keys()
        unbilled: list[tuple[tuple[str, str], ExpectedCharge]] = []
        for (key, rtype), charges in self.index.items():
            for e in charges:
                if (key, rtype, e.period_start) in billed_slots:
                    continue
                if e.period_start < self.bp_start or e.period_end > self.bp_end:
                    continue
                unbilled.append(((key, rtype), e))
        unbilled.sort(key=_first)  # stable: by resource, then period as indexed
        for _, e in unbilled:
            self._metered_not_billed(e)
        self.lines += n

    def finish(self) -> VerificationResult:
        """The invoice-level checks (credits) and the findings in their deterministic order."""
        if self.credits:
            self._credits()
        self.findings.sort(key=Finding.sort_key)
        return VerificationResult(self.findings, dict(self.totals), self.lines, self.matched)

    def _credits(self) -> None:
        """Compare the invoice's credit lines with the contract's invoice-level reductions:
        SLA credits (S1) against the lines labelled as such, the rest (R3) against the
        others; with only one kind expected, every credit line counts towards it."""
        sla = [c for c in self.credits if c.kind in s1_sla_credit_missing.KINDS]
        other = [c for c in self.credits if c.kind not in s1_sla_credit_missing.KINDS]
        if sla and other:
            sla_lines = [ln for ln in self.credit_lines if s1_sla_credit_missing.is_sla_line(ln)]
            rest = [ln for ln in self.credit_lines if not s1_sla_credit_missing.is_sla_line(ln)]
            groups = [("R3", other, rest), ("S1", sla, sla_lines)]
        elif sla:
            groups = [("S1", sla, self.credit_lines)]
        else:
            groups = [("R3", other, self.credit_lines)]
        for rule_id, credits, lines in groups:
            self._credit_group(rule_id, credits, lines)

    def _credit_group(
        self, rule_id: str, credits: list[ExpectedCredit], lines: list[InvoiceLine]
    ) -> None:
        owner = (self.provider, "", "")
        expected = sum((c.amount for c in credits), ZERO)
        billed = sum((ln.amount for ln in lines), ZERO)
        self.totals[owner].expected += expected
        diff = billed - expected
        if self.tol.money_ok(diff, expected):
            return
        c0 = credits[0]
        self.add(
            rule_id,
            diff,
            lines,
            owner,
            {
                "expected_credit": expected,
                "billed_credit": billed,
                "kinds": ",".join(sorted({c.kind for c in credits})),
                "tariff_version": c0.tariff_version,
                "detail": c0.detail,
            },
            "R3.credit" if rule_id == "R3" else rule_id,
            resource_id="",
            resource_type="",
            period=(c0.period_start, c0.period_end),
        )

    def _slot(self, key: str, rtype: str, start: dt.datetime) -> ExpectedCharge | None:
        starts = self.starts.get((key, rtype))
        if not starts:
            return None
        i = bisect.bisect_right(starts, start) - 1
        if i < 0:
            return None
        e = self.index[(key, rtype)][i]
        return e if start < e.period_end else None

    def _unmatched(self, ln: InvoiceLine, owner: tuple[str, str, str]) -> None:
        vm = self.vms.get(ln.resource_key)
        ev: dict[str, object] = {"billed_quantity": ln.quantity, "billed_amount": ln.amount}
        if ln.unit:
            ev["unit"] = ln.unit  # the invoice's own unit: nothing metered to convert to
        if vm is None:
            self.add(
                "B1",
                ln.amount,
                [ln],
                owner,
                ev,
                "B1",
            )
            return
        if vm.deleted_at is not None and vm.deleted_at <= ln.period_start:
            ev["deleted_at"] = vm.deleted_at
            self.add(
                "B2",
                ln.amount,
                [ln],
                owner,
                ev,
                "B2.before",
            )
            return
        if vm.created_at is not None:
            ev["created_at"] = vm.created_at
        if vm.deleted_at is not None:
            ev["deleted_at"] = vm.deleted_at
        ev["metered_quantity"] = ZERO
        self.add(
            "B3",
            ln.amount,
            [ln],
            owner,
            ev,
            "B3",
        )

    def _metered_not_billed(self, e: ExpectedCharge) -> None:
        if self.tol.money_ok(e.expected_amount, e.expected_amount, e.rounding_slack):
            return
        owner = self._owner("", e)
        self.totals[owner].expected += e.expected_amount
        self.add(
            "M1",
            -e.expected_amount,
            [],
            owner,
            {
                "metered_quantity": _shown(e.quantity),
                "unit": e.unit,
                "unit_price": e.unit_price,
                "expected_amount": e.expected_amount,
                "tariff_version": e.tariff_version,
            },
            "M1",
            resource_id=e.resource_id,
            resource_type=e.resource_type,
            period=(e.period_start, e.period_end),
        )

    def _consistent_amount(self, ln: InvoiceLine, owner: Owner) -> Decimal:
        """The amount the line's own figures imply; reports A1 when the line disagrees
        (:mod:`cloudtally.core.rules.a1_arithmetic`). ``ln`` is in catalog units."""
        consistent, wrong = a1_arithmetic.check(ln, self.tol.money_ok)
        if wrong is not None:
            evidence, message_id = wrong
            self.add("A1", ln.amount - consistent, [ln], owner, evidence, message_id)
        return consistent

    def _in_catalog_units(self, ln: InvoiceLine, e: ExpectedCharge) -> InvoiceLine:
        """The line with quantity and prices in the expected charge's unit (exact ratios)."""
        if not ln.quantity_per:
            return ln  # no basis stated: taken to be the catalog unit
        if e.unit_hours == 1 and ln.quantity_per == "hour" and ln.price_per in ("", "hour"):
            return ln  # the usual case: hourly on both sides
        month = e.unit_hours if e.unit_hours > 1 else self.policy.month_hours
        hq = hours_of(ln.quantity_per, month)
        hp = hours_of(ln.price_per or ln.quantity_per, month)
        u = e.unit_hours
        if hq == u and hp == u:
            return ln
        c = copy.copy(ln)
        c.quantity = rescale(ln.quantity, hq, u)
        if ln.unit_price is not None:
            c.unit_price = rescale(ln.unit_price, u, hp)
        if ln.contracted_unit_price is not None:
            c.contracted_unit_price = rescale(ln.contracted_unit_price, u, hp)
        return c

    def _display(self, lines: Sequence[InvoiceLine], e: ExpectedCharge) -> _Display:
        """How to state quantities and prices in the invoice's own unit (its first line's)."""
        first = lines[0]
        if not first.quantity_per or any(
            (ln.quantity_per, ln.price_per) != (first.quantity_per, first.price_per) for ln in lines
        ):
            return _Display(e.unit, e.unit_hours, e.unit_hours, e.unit_hours)
        month = e.unit_hours if e.unit_hours > 1 else self.policy.month_hours
        hq = hours_of(first.quantity_per, month)
        hp = hours_of(first.price_per or first.quantity_per, month)
        return _Display(first.unit or first.quantity_per, e.unit_hours, hq, hp)

    def _bureau(self, lines: Sequence[InvoiceLine], e: ExpectedCharge, owner: Owner) -> None:
        """O1 (:mod:`cloudtally.core.rules.o1_wrong_bureau`) on a matched group."""
        owners = e.owners or ((e.bureau,) if e.bureau else ())
        for ln, evidence, message in o1_wrong_bureau.check(lines, owners):
            self.add(
                "O1", ZERO, [ln], owner, {**evidence, "tariff_version": e.tariff_version}, message
            )

    def _group(self, group: list[InvoiceLine], e: ExpectedCharge) -> None:
        owner = (e.provider or self.provider, e.pool, e.bureau)
        accepted: list[InvoiceLine] = [] if len(group) > 1 else group
        for ln in group if len(group) > 1 else ():
            dup = next(
                (
                    a
                    for a in accepted
                    if a.period_start < ln.period_end and ln.period_start < a.period_end
                ),
                None,
            )
            if dup is not None:
                self.add(
                    "D1",
                    ln.amount,
                    [dup, ln],
                    owner,
                    {
                        "first_line": dup.line_no,
                        "duplicate_line": ln.line_no,
                        "billed_amount": ln.amount,
                    },
                    "D1",
                )
                continue
            accepted.append(ln)
        self.matched += len(accepted)
        self.totals[owner].expected += e.expected_amount
        if accepted[0].bureau or len(accepted) > 1:
            self._bureau(accepted, e, owner)
        invoice_lines = accepted
        if accepted[0].quantity_per or len(accepted) > 1:
            accepted = [self._in_catalog_units(ln, e) for ln in accepted]
        tol = self.tol
        big_e = e.expected_amount
        q_e = e.quantity
        if len(accepted) == 1:
            only = accepted[0]
            bc = ZERO + self._consistent_amount(only, owner)  # as sum() would give
            q_b = ZERO + only.quantity
            prices = set() if only.unit_price is None else {only.unit_price}
        else:
            bc = sum([self._consistent_amount(ln, owner) for ln in accepted], ZERO)
            q_b = sum((ln.quantity for ln in accepted), ZERO)
            prices = {ln.unit_price for ln in accepted if ln.unit_price is not None}
        slack = e.rounding_slack + tol.money_abs * (len(accepted) - 1)
        excess = q_b - q_e
        qty_stake = ZERO
        rate_e = ZERO
        if not tol.quantity_ok(excess, q_e):
            rate_e = (big_e / q_e) if q_e else e.unit_price * e.net_factor
            qty_stake = money(excess * rate_e)
        price_stake = ZERO
        if any(not tol.price_ok(p - e.unit_price, e.unit_price) for p in prices):
            f_e = (big_e / e.list_amount) if e.list_amount else e.net_factor
            price_stake = money(
                sum(
                    (
                        ln.quantity * ((ln.unit_price or e.unit_price) - e.unit_price) * f_e
                        for ln in accepted
                    ),
                    ZERO,
                )
            )
        rest = bc - big_e - qty_stake - price_stake
        rest_ok = tol.money_ok(rest, big_e, slack)
        gap = (
            self.policy.bill_unmetered_hours
            and e.gap_hours > 0
            and e.gap_hours > self.policy.gap_info_threshold * _hours(e.period_start, e.period_end)
        )
        if not qty_stake and not price_stake and rest_ok and not gap:
            return  # the line matches: no evidence to build
        show = self._display(invoice_lines, e)
        base = {
            "billed_quantity": show.quantity(q_b),
            "metered_quantity": show.quantity(q_e),
            "unit": show.unit,
            "expected_amount": big_e,
            "billed_amount": sum((ln.amount for ln in accepted), ZERO),
            "tariff_version": e.tariff_version,
        }
        if show.unit != e.unit:
            base["catalog_unit"] = e.unit
            base["metered_quantity_catalog_unit"] = q_e
        if qty_stake:
            self._quantity(accepted, e, owner, excess, rate_e, qty_stake, base, show)
        if price_stake:
            billed_p = ",".join(_s(show.price(p)) for p in sorted(prices))
            self.add(
                "U1",
                price_stake,
                accepted,
                owner,
                {
                    **base,
                    "billed_unit_price": billed_p,
                    "catalog_unit_price": show.price(e.unit_price),
                },
                "U1",
            )
        if not rest_ok:
            self._adjustments(accepted, e, owner, bc, rest, base, slack)
        if gap:
            self.add(
                "G2",
                ZERO,
                accepted,
                owner,
                {
                    "gap_hours": e.gap_hours,
                    "metered_hours": e.metered_hours,
                    "gap_quantity": e.gap_quantity,
                    "policy": "bill_unmetered_hours",
                },
                "G2",
            )

    def _quantity(
        self,
        accepted: list[InvoiceLine],
        e: ExpectedCharge,
        owner: tuple[str, str, str],
        excess: Decimal,
        rate: Decimal,
        stake: Decimal,
        base: dict[str, object],
        show: _Display,
    ) -> None:
        ev = {
            **base,
            "excess_quantity": show.quantity(excess),
            "expected_rate": money(show.price(rate) * 100) / 100,
        }
        if excess < 0:
            self.add(
                "Q2",
                stake,
                accepted,
                owner,
                ev,
                "Q2",
            )
            return
        if e.deleted_at is not None and e.deleted_at < e.period_end:
            ev["deleted_at"] = e.deleted_at
            ev["partial_hours"] = self.policy.partial_hours
            self.add(
                "B2",
                stake,
                accepted,
                owner,
                ev,
                "B2",
            )
            return
        gap_stake = ZERO
        if not self.policy.bill_unmetered_hours and e.gap_quantity > 0:
            gap_q = min(excess, e.gap_quantity)
            gap_stake = stake if gap_q == excess else money(gap_q * rate)
            self.add(
                "G1",
                gap_stake,
                accepted,
                owner,
                {
                    **ev,
                    "gap_hours": e.gap_hours,
                    "gap_quantity": e.gap_quantity,
                    "policy": "bill_unmetered_hours=false",
                    "gap_billed_quantity": show.quantity(gap_q),
                },
                "G1",
            )
        if stake - gap_stake:
            self.add(
                "Q1",
                stake - gap_stake,
                accepted,
                owner,
                ev,
                "Q1",
            )

    def _adjustments(
        self,
        accepted: list[InvoiceLine],
        e: ExpectedCharge,
        owner: tuple[str, str, str],
        bc: Decimal,
        rest: Decimal,
        base: dict[str, object],
        slack: Decimal,
    ) -> None:
        gross = sum(
            (
                ln.quantity * (ln.unit_price if ln.unit_price is not None else e.unit_price)
                for ln in accepted
            ),
            ZERO,
        )
        adjs = [a for a in e.adjustments if a.factor != 1]
        missing: tuple[Adjustment, ...] | None = None
        for n_missing in range(1, len(adjs) + 1):
            for combo in itertools.combinations(adjs, n_missing):
                f = Decimal(1)
                for a in adjs:
                    if a not in combo:
                        f *= a.factor
                if self.tol.money_ok(bc - money(gross * f), bc, slack):
                    missing = combo
                    break
            if missing is not None:
                break
        ev = {
            **base,
            "billed_gross": money(gross),
            "expected_factor": _s(e.net_factor),
            "billed_factor": _s((bc / gross).quantize(Decimal("0.000001"))) if gross else "",
            "adjustments": ";".join(f"{a.kind}={_s(a.factor)}" for a in e.adjustments),
        }
        if missing is None:
            self.add(
                "X1",
                rest,
                accepted,
                owner,
                ev,
                "X1",
            )
            return
        # Put the missing factors back one at a time: each one's share of the stake.
        applied = e.net_factor
        shares: list[Decimal] = []
        for a in missing:
            without = applied / a.factor
            shares.append(money(gross * (without - applied)))
            applied = without
        shares[-1] = rest - sum(shares[:-1], ZERO)
        for a, share in zip(missing, shares, strict=True):
            rule = ADJUSTMENT_RULES.get(a.kind, "X1")
            self.add(
                rule,
                share,
                accepted,
                owner,
                {**ev, "missing_adjustment": a.kind, "factor": a.factor, "policy_rule": a.rule},
                rule,
            )


def verify(
    lines: Iterable[InvoiceLine],
    expected: Sequence[ExpectedCharge],
    billing_period: tuple[dt.datetime, dt.datetime],
    *,
    vms: Mapping[str, VmLifecycle] | None = None,
    policy: VerificationPolicy | None = None,
    provider: str = "",
    credits: Sequence[ExpectedCredit] = (),
) -> VerificationResult:
    """Check every invoice line; findings in a deterministic order.

    ``expected`` must cover the invoice's billing period at the invoice's
    granularity (a line is matched to the expected charge whose period holds
    its start). ``credits`` are invoice-level reductions (volume tiers) checked
    against the invoice's credit/adjustment lines. ``vms`` maps resource ids
    to lifecycle for lines with no expected charge; VMs that have an expected charge
    need not be in it.
    """
    v = _Verifier(billing_period, policy or VerificationPolicy(), provider, credits)
    v.partition(lines, expected, vms or {})
    return v.finish()


def verify_partitions(
    partitions: Iterable[
        tuple[Iterable[InvoiceLine], Sequence[ExpectedCharge], Mapping[str, VmLifecycle]]
    ],
    billing_period: tuple[dt.datetime, dt.datetime],
    *,
    policy: VerificationPolicy | None = None,
    provider: str = "",
    credits: Sequence[ExpectedCredit] = (),
) -> VerificationResult:
    """:func:`verify` over partitions of the invoice by resource key; the same result.

    Each partition holds all the lines, expected charges and VM lifecycles of
    its resource keys (normalised resource ids) and no other partition holds
    any of them. Partitions are consumed one at a time, so a caller that
    loads them lazily keeps only one in memory.
    """
    v = _Verifier(billing_period, policy or VerificationPolicy(), provider, credits)
    for lines, expected, vms in partitions:
        v.partition(lines, expected, vms)
    return v.finish()
