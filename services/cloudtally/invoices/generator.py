"""Sample provider invoices: from expected charges, clean or with planted errors.

``simulate_fleet`` makes expected charges for a synthetic fleet (for demos and
benchmarks when no billing data is at hand); ``load_expected`` in the store
adapter gives the real ones. ``generate_invoice`` turns expected charges into
invoice lines as a provider would bill them, and plants the requested errors,
returning each planted error with the rule that must find it, its line
numbers and the exact amount at stake. Renderers write the provider CSV
(Chinese headers; UTF-8 with BOM or GB18030), XLSX, and FOCUS CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from zoneinfo import ZoneInfo

from cloudtally.core.invoice import (
    PROVIDER_CSV_HEADERS,
    InvoiceLine,
    money,
    norm_resource_id,
)
from cloudtally.core.rules.s1_sla_credit_missing import KINDS as SLA_KINDS
from cloudtally.core.units import label as unit_label
from cloudtally.core.verification import (
    Adjustment,
    ExpectedCharge,
    ExpectedCredit,
    VmLifecycle,
)
from cloudtally.store import Store

SH = ZoneInfo("Asia/Shanghai")
ALL_ERRORS = (
    "P1", "D1", "A1", "B1", "B2", "B3", "G1", "Q1", "U1", "R1", "R2", "R3", "M1", "V1", "S1",
)  # fmt: skip
TYPE_NAMES_ZH = {
    "vcpu": "vCPU",
    "memory": "内存",
    "storage_performance": "高性能存储",
    "storage_standard": "标准存储",
    "storage_archive": "归档存储",
}
D6 = Decimal("0.000001")


@dataclass(frozen=True)
class PlantedError:
    rule_id: str
    line_numbers: tuple[int, ...]
    amount_at_stake: Decimal
    resource_id: str
    note: str


# ------------------------------------------------------------------ fleet


def simulate_fleet(
    *,
    seed: int = 1,
    vms: int = 100,
    month: tuple[int, int] = (2024, 1),
    provider: str = "provider-a",
    pools: int = 2,
    bureaus: int = 10,
    tender: Decimal = Decimal("0.55"),
    cut: Decimal = Decimal("0.70"),
    prices: dict[str, Decimal] | None = None,
    low_util_share: float = 0.2,
    gap_share: float = 0.1,
    deleted: int = 2,
) -> tuple[list[ExpectedCharge], dict[str, VmLifecycle]]:
    """Expected monthly charges of a synthetic fleet (hourly catalog prices)."""
    rnd = random.Random(seed)
    prices = prices or {
        "vcpu": Decimal("0.0417"),
        "memory": Decimal("0.0208"),
        "storage_performance": Decimal("0.0008"),
        "storage_standard": Decimal("0.0005"),
        "storage_archive": Decimal("0.0002"),
    }
    y, m = month
    start = dt.datetime(y, m, 1, tzinfo=SH)
    end = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=SH)
    hours = Decimal(int((end - start).total_seconds()) // 3600)
    charges: list[ExpectedCharge] = []
    lifecycle: dict[str, VmLifecycle] = {}
    for i in range(vms):
        vm = f"vm-{i:06d}"
        bureau = f"bureau-{rnd.randrange(bureaus):03d}"
        pool = f"pool-{rnd.randrange(pools) + 1}"
        created = start - dt.timedelta(days=rnd.randrange(30, 400))
        lifecycle[vm] = VmLifecycle(vm, created, None, bureau, pool, provider)
        alloc = {
            "vcpu": Decimal(rnd.choice([2, 4, 8, 16])),
            "memory": Decimal(rnd.choice([4, 8, 16, 32, 64])),
            rnd.choice(["storage_performance", "storage_standard", "storage_archive"]): Decimal(
                rnd.choice([100, 200, 500, 1000])
            ),
        }
        low = rnd.random() < low_util_share
        gap_h = Decimal(rnd.randrange(1, 72)) if rnd.random() < gap_share else Decimal(0)
        for rtype, size in alloc.items():
            adjs = [Adjustment("tender_discount", tender, "tender")]
            if low and rtype in ("vcpu", "memory"):
                adjs.append(Adjustment("low_utilization_cut", cut, "low_utilization<20%"))
            q = size * hours
            p = prices[rtype]
            lst = money(q * p)
            f = Decimal(1)
            for a in adjs:
                f *= a.factor
            charges.append(
                ExpectedCharge(
                    resource_id=vm,
                    resource_type=rtype,
                    period_start=start.astimezone(dt.UTC),
                    period_end=end.astimezone(dt.UTC),
                    quantity=q,
                    unit_price=p,
                    list_amount=lst,
                    discounted_amount=money(lst * tender),
                    expected_amount=money(lst * f),
                    unit="vCPU-hour" if rtype == "vcpu" else "GB-hour",
                    adjustments=tuple(adjs),
                    metered_hours=hours - gap_h,
                    gap_hours=gap_h,
                    gap_quantity=size * gap_h,
                    created_at=created,
                    bureau=bureau,
                    pool=pool,
                    provider=provider,
                    tariff_version="sim-1",
                )
            )
    for j in range(deleted):
        vm = f"vm-del-{j:03d}"
        lifecycle[vm] = VmLifecycle(
            vm,
            start - dt.timedelta(days=200),
            start - dt.timedelta(days=10),
            f"bureau-{j:03d}",
            "pool-1",
            provider,
        )
    return charges, lifecycle


# ------------------------------------------------------------------ invoice


def _line(no: int, e: ExpectedCharge, **kw: object) -> InvoiceLine:
    q = kw.pop("quantity", e.quantity)
    p = kw.pop("unit_price", e.unit_price)
    assert isinstance(q, Decimal) and isinstance(p, Decimal)
    amount = kw.pop("amount", e.expected_amount)
    assert isinstance(amount, Decimal)
    lst = money(q * p)
    rate = (amount / lst).quantize(D6) if lst else None
    base = InvoiceLine(
        line_no=no,
        resource_id=e.resource_id,
        resource_key=norm_resource_id(e.resource_id),
        resource_type_raw=TYPE_NAMES_ZH.get(e.resource_type, e.resource_type),
        resource_type=e.resource_type,
        period_start=e.period_start,
        period_end=e.period_end,
        quantity=q,
        amount=amount,
        unit=_unit_zh(e),
        unit_price=p,
        list_amount=lst,
        discount_rate=rate,
        resource_name=f"{e.resource_id}-name",
        pool=e.pool,
        charge_category="usage",
        currency="CNY",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _unit_zh(e: ExpectedCharge) -> str:
    """The unit the quantity is really in: 核·时 for hourly catalogs, 核·月 for monthly ones."""
    basis = {Decimal(1): "hour", Decimal(24): "day"}.get(e.unit_hours, "month")
    return unit_label(basis, e.resource_type)


def _consistent(ln: InvoiceLine) -> Decimal:
    """What the verifier takes the line's own figures to imply (mirrors A1)."""
    assert ln.unit_price is not None and ln.list_amount is not None
    gross = money(ln.quantity * ln.unit_price)
    if ln.discount_rate is not None:
        return money(gross * ln.discount_rate)
    return money(gross * ln.amount / ln.list_amount) if ln.list_amount else ln.amount


def generate_invoice(
    expected: Sequence[ExpectedCharge],
    vms: dict[str, VmLifecycle] | None = None,
    *,
    errors: Iterable[str] = (),
    credits: Sequence[ExpectedCredit] = (),
    form: str = "provider",
    bill_unmetered_hours: bool = True,
    seed: int = 1,
) -> tuple[list[InvoiceLine], list[PlantedError]]:
    """Invoice lines for the expected charges, with the requested errors planted once each.

    Each error uses its own charge, so the findings do not interact. Errors
    whose preconditions the data lacks (no deleted VM for B2, no cut for R2,
    no gap for G1 ...) are skipped; the returned list says what was planted.
    ``form='focus'`` leaves out the discount column FOCUS does not have.
    """
    rnd = random.Random(seed)
    wanted = list(dict.fromkeys(errors))
    unknown = set(wanted) - set(ALL_ERRORS)
    if unknown:
        raise ValueError(f"cannot plant {sorted(unknown)}; known: {', '.join(ALL_ERRORS)}")
    vms = dict(vms or {})
    pool = [e for e in expected if e.expected_amount > Decimal("1.00") and e.quantity > 0]
    rnd.shuffle(pool)
    used: set[int] = set()

    def take(pred: object = None) -> ExpectedCharge | None:
        for e in pool:
            if id(e) in used:
                continue
            if pred is None or pred(e):  # type: ignore[operator]
                used.add(id(e))
                return e
        return None

    plan: dict[int, str] = {}
    for rule in wanted:
        cond = {
            "R1": lambda e: any(a.kind == "tender_discount" for a in e.adjustments),
            "R2": lambda e: any(a.kind == "low_utilization_cut" for a in e.adjustments),
            "G1": lambda e: e.gap_quantity > 0 and not bill_unmetered_hours,
        }.get(rule)
        if rule in ("B1", "B2", "B3", "V1", "R3", "S1"):
            continue
        if rule == "G1" and bill_unmetered_hours:
            continue
        e = take(cond)
        if e is not None:
            plan[id(e)] = rule

    lines: list[InvoiceLine] = []
    planted: list[PlantedError] = []
    no = 2

    def nxt() -> int:
        nonlocal no
        no += 1
        return no - 1

    for e in expected:
        rule = plan.get(id(e))
        if rule == "M1":
            planted.append(
                PlantedError(
                    "M1",
                    (),
                    -e.expected_amount,
                    e.resource_id,
                    "metered charge left off the invoice",
                )
            )
            continue
        if rule is None:
            lines.append(_line(nxt(), e))
            continue
        if rule == "D1":
            a = _line(nxt(), e)
            b = _line(nxt(), e)
            lines += [a, b]
            planted.append(
                PlantedError(
                    "D1",
                    (a.line_no, b.line_no),
                    b.amount,
                    e.resource_id,
                    "the same charge billed twice",
                )
            )
        elif rule == "P1":
            lines.append(_line(nxt(), e))
            prev_end = e.period_start
            prev_start = (e.period_start.astimezone(SH) - dt.timedelta(days=1)).replace(day=1)
            ln = _line(nxt(), e, period_start=prev_start.astimezone(dt.UTC), period_end=prev_end)
            lines.append(ln)
            planted.append(
                PlantedError(
                    "P1",
                    (ln.line_no,),
                    ln.amount,
                    e.resource_id,
                    "last month's charge on this invoice",
                )
            )
        elif rule == "A1":
            if form == "focus":
                base = _line(0, e)
                assert base.list_amount is not None
                wrong_list = base.list_amount + Decimal("10.00")
                ln = replace(
                    base,
                    line_no=nxt(),
                    list_amount=wrong_list,
                    discount_rate=None,
                    amount=money(wrong_list * e.expected_amount / base.list_amount),
                )
            else:
                base = _line(nxt(), e)
                ln = replace(base, amount=base.amount + Decimal("10.00"))
            lines.append(ln)
            planted.append(
                PlantedError(
                    "A1",
                    (ln.line_no,),
                    ln.amount - _consistent(ln),
                    e.resource_id,
                    "amount disagrees with its own figures",
                )
            )
        elif rule in ("Q1", "G1"):
            extra = e.gap_quantity if rule == "G1" else (e.quantity / 10).quantize(D6)
            stake = money(extra * e.expected_amount / e.quantity)
            ln = _line(nxt(), e, quantity=e.quantity + extra, amount=e.expected_amount + stake)
            lines.append(ln)
            planted.append(
                PlantedError(rule, (ln.line_no,), stake, e.resource_id, "quantity above metered")
            )
        elif rule == "U1":
            p = (e.unit_price * Decimal("1.2")).quantize(Decimal("0.00000001"))
            f_e = e.expected_amount / e.list_amount
            stake = money(e.quantity * (p - e.unit_price) * f_e)
            ln = _line(nxt(), e, unit_price=p, amount=e.expected_amount + stake)
            lines.append(ln)
            planted.append(
                PlantedError(
                    "U1", (ln.line_no,), stake, e.resource_id, "unit price above the catalog"
                )
            )
        elif rule in ("R1", "R2"):
            kind = "tender_discount" if rule == "R1" else "low_utilization_cut"
            f = Decimal(1)
            for a in e.adjustments:
                if a.kind != kind:
                    f *= a.factor
            amount = money(money(e.quantity * e.unit_price) * f)
            ln = _line(nxt(), e, amount=amount)
            lines.append(ln)
            planted.append(
                PlantedError(
                    rule,
                    (ln.line_no,),
                    amount - e.expected_amount,
                    e.resource_id,
                    f"{kind} not applied",
                )
            )
        if form == "focus" and lines:
            lines[-1] = replace(lines[-1], discount_rate=None)

    by_vm: dict[str, set[str]] = {}
    for e in expected:
        by_vm.setdefault(e.resource_id, set()).add(e.resource_type)
    template = pool[0] if pool else None
    if template is not None:
        if "B1" in wanted:
            ln = _line(
                nxt(),
                template,
                resource_id="vm-not-in-inventory",
                resource_key="vm-not-in-inventory",
            )
            lines.append(ln)
            planted.append(
                PlantedError(
                    "B1", (ln.line_no,), ln.amount, ln.resource_id, "VM unknown to inventory"
                )
            )
        deleted = sorted(
            v
            for v, lc in vms.items()
            if lc.deleted_at is not None
            and lc.deleted_at <= template.period_start
            and v not in by_vm
        )
        if "B2" in wanted and deleted:
            vm = deleted[0]
            ln = _line(nxt(), template, resource_id=vm, resource_key=norm_resource_id(vm))
            lines.append(ln)
            planted.append(
                PlantedError("B2", (ln.line_no,), ln.amount, vm, "billed after deletion")
            )
        if "B3" in wanted:
            for vm in sorted(by_vm):
                missing = [t for t in TYPE_NAMES_ZH if t not in by_vm[vm]]
                if missing:
                    t = missing[0]
                    ln = _line(
                        nxt(),
                        replace(template, resource_id=vm, resource_type=t),
                        resource_key=norm_resource_id(vm),
                    )
                    lines.append(ln)
                    planted.append(
                        PlantedError(
                            "B3", (ln.line_no,), ln.amount, vm, f"{t} billed but never allocated"
                        )
                    )
                    break
        if "V1" in wanted:
            ln = _line(
                nxt(),
                template,
                resource_type_raw="网络带宽",
                resource_type="",
                quantity=Decimal(100),
                unit_price=Decimal("0.5"),
                amount=Decimal("27.50"),
                unit="Mbps·月",
            )
            lines.append(ln)
            planted.append(
                PlantedError(
                    "V1",
                    (ln.line_no,),
                    ln.amount,
                    ln.resource_id,
                    "a resource type cloudtally does not meter",
                )
            )
        if form == "focus":
            lines = [replace(x, discount_rate=None) for x in lines]
    for c in credits:  # R3 leaves out the volume-tier credits, S1 the SLA credits
        if c.kind in SLA_KINDS and "S1" in wanted:
            planted.append(PlantedError("S1", (), -c.amount, "", "SLA credit missing"))
            continue
        if c.kind not in SLA_KINDS and "R3" in wanted:
            planted.append(PlantedError("R3", (), -c.amount, "", "volume tier credit missing"))
            continue
        lines.append(
            InvoiceLine(
                line_no=nxt(),
                resource_id="",
                resource_key="",
                resource_type_raw="",
                resource_type="",
                period_start=c.period_start,
                period_end=c.period_end,
                quantity=Decimal(0),
                amount=c.amount,
                charge_category="credit",
                resource_name=credit_name(c.kind),
                description=f"{c.kind} {c.detail}"[:200],
                currency="CNY",
            )
        )
    planted.sort(key=lambda p: (min(p.line_numbers) if p.line_numbers else 1 << 40, p.rule_id))
    return lines, planted


def credit_name(kind: str) -> str:
    """A credit line's name as a provider writes it: an SLA credit says SLA (rule S1 tells
    it from a volume-tier credit by that wording), a volume tier says what it is."""
    if kind in SLA_KINDS:
        return "SLA 服务等级赔付"
    return "阶梯用量折扣" if kind == "volume_tier" else kind


# ------------------------------------------------------------------ renderers


def _period_text(start: dt.datetime, end: dt.datetime) -> str:
    s, e = start.astimezone(SH), end.astimezone(SH)
    if s.day == 1 and s.hour == 0 and e == (s + dt.timedelta(days=32)).replace(day=1):
        return f"{s:%Y-%m}"
    last = e - dt.timedelta(days=1)
    if s.hour == 0 and e.hour == 0:
        return f"{s:%Y-%m-%d}" if last.date() == s.date() else f"{s:%Y-%m-%d}~{last:%Y-%m-%d}"
    return f"{s.isoformat()}~{e.isoformat()}"


def _num(d: Decimal | None) -> str:
    return "" if d is None else format(d, "f")


CATEGORY_ZH = {"usage": "使用", "credit": "抵扣", "tax": "税费", "adjustment": "调整"}


def provider_rows(lines: Sequence[InvoiceLine]) -> list[list[str]]:
    header = list(PROVIDER_CSV_HEADERS.values())
    out = [header]
    for ln in lines:
        out.append(
            [
                ln.resource_id,
                ln.resource_name,
                ln.resource_type_raw,
                _period_text(ln.period_start, ln.period_end),
                _num(ln.quantity),
                ln.unit,
                _num(ln.unit_price),
                _num(ln.list_amount),
                _num(ln.discount_rate),
                _num(ln.amount),
                ln.pool,
                ln.currency,
                CATEGORY_ZH.get(ln.charge_category, ln.charge_category),
                ln.description,
            ]
        )
    return out


def render_provider_csv(lines: Sequence[InvoiceLine], encoding: str = "utf-8-sig") -> bytes:
    """The provider CSV (资源ID, 资源类型, 计费周期, 数量, 单价, 金额, 折扣 ...)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(provider_rows(lines))
    return buf.getvalue().encode(encoding)


def render_provider_xlsx(lines: Sequence[InvoiceLine]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("账单明细")
    for row in provider_rows(lines):
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


FOCUS_HEADER = [
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ProviderName",
    "PublisherName",
    "AvailabilityZone",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuMeter",
]
FOCUS_METER = {
    "vcpu": "vCPU",
    "memory": "Memory",
    "storage_performance": "Storage Performance",
    "storage_standard": "Storage Standard",
    "storage_archive": "Storage Archive",
}


def render_focus_csv(
    lines: Sequence[InvoiceLine],
    *,
    provider: str,
    billing_period: tuple[dt.datetime, dt.datetime],
    invoice_no: str = "INV-0001",
) -> bytes:
    """FOCUS 1.x cost-and-usage rows (UTF-8, ISO 8601 UTC date-times)."""

    def iso(t: dt.datetime) -> str:
        return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FOCUS_HEADER)
    for ln in lines:
        usage = ln.charge_category == "usage"
        meter = FOCUS_METER.get(ln.resource_type, ln.resource_type_raw)
        w.writerow(
            [
                _num(ln.amount),
                "gov-cloud",
                ln.currency,
                iso(billing_period[0]),
                iso(billing_period[1]),
                ln.charge_category.title(),
                "",
                ln.description or f"{meter} {ln.resource_id}",
                iso(ln.period_start),
                iso(ln.period_end),
                _num(ln.amount),
                _num(ln.amount),
                invoice_no,
                provider,
                _num(ln.list_amount) if usage else _num(ln.amount),
                _num(ln.unit_price),
                _num(ln.quantity) if usage else "",
                ln.unit if usage else "",
                _num(ln.quantity) if usage else "",
                ln.unit if usage else "",
                provider,
                provider,
                ln.pool,
                ln.resource_id,
                ln.resource_name,
                "Virtual Machine" if usage else "",
                "Compute" if ln.resource_type in ("vcpu", "memory") else "Storage",
                "Elastic Compute",
                f"{ln.resource_type or 'other'}",
                meter if usage else "",
            ]
        )
    return buf.getvalue().encode("utf-8")


def seed_metering(
    store: Store,
    expected: Sequence[ExpectedCharge],
    vms: Mapping[str, VmLifecycle],
    provider: str = "provider-a",
    chunk: int = 200_000,
    price_divisor: int = 1,
) -> None:
    """Write a simulated fleet's metering as the pipeline would have: bill lines (one
    per VM resource and month, current run "r1"), their run pointers and the VM
    inventory — so generated invoices can be verified against a real store.

    With ``price_divisor`` > 1 the catalog is monthly, as the example tariff's:
    quantities are unit-hours (as bill lines hold them) and ``unit_price`` is per
    month of ``price_divisor`` hours.
    """
    day = (expected[0].period_start + dt.timedelta(days=14)).date()
    for i in range(0, len(expected), chunk):
        _seed_bill_lines(store, expected[i : i + chunk], day, provider, price_divisor)
    _seed_pointers_and_inventory(store, expected, vms, day, provider)


def _seed_bill_lines(
    store: Store,
    expected: Sequence[ExpectedCharge],
    day: dt.date,
    provider: str,
    price_divisor: int = 1,
) -> None:
    n = len(expected)
    adj = []
    for e in expected:
        rules = [{"rule": "catalog", "price": str(e.unit_price)}]
        for a in e.adjustments:
            if a.kind == "tender_discount":
                rules.append({"rule": "tender_discount", "pay": str(a.factor)})
            else:
                rules.append(
                    {"rule": "low_utilization", "cut": str(1 - a.factor), "threshold_pct": "20"}
                )
        adj.append(json.dumps(rules))
    store.insert(
        "bill_lines",
        {
            "vm_id": [e.resource_id for e in expected],
            "day": [day] * n,
            "month": [day] * n,
            "fiscal_year": [2024] * n,
            "bureau": [e.bureau for e in expected],
            "system": ["sys"] * n,
            "pool": [e.pool for e in expected],
            "provider": [provider] * n,
            "resource": [e.resource_type for e in expected],
            "tariff_version": ["sim-1"] * n,
            "quantity": [e.quantity for e in expected],
            "unit": [e.unit for e in expected],
            "unit_price": [e.unit_price for e in expected],
            "price_divisor": [price_divisor] * n,
            "list_amount": [e.list_amount for e in expected],
            "after_discount": [e.discounted_amount for e in expected],
            "after_cut": [e.expected_amount for e in expected],
            "adjustments": adj,
            "hours": [e.metered_hours + e.gap_hours for e in expected],
            "unmetered_hours": [int(e.gap_hours) for e in expected],
            "run_id": ["r1"] * n,
            "version": [1] * n,
        },
    )


def _seed_pointers_and_inventory(
    store: Store,
    expected: Sequence[ExpectedCharge],
    vms: Mapping[str, VmLifecycle],
    day: dt.date,
    provider: str,
) -> None:
    vm_ids = sorted({e.resource_id for e in expected})
    store.insert(
        "bill_current",
        {
            "vm_id": vm_ids,
            "day": [day] * len(vm_ids),
            "run_id": ["r1"] * len(vm_ids),
            "version": [1] * len(vm_ids),
        },
    )
    from cloudtally.billing import totals  # what the rating step would have left

    totals.refresh(store, day, day + dt.timedelta(days=1), vm_ids)
    rows = []
    for lc in vms.values():
        rows.append((lc, "created", lc.created_at))
        if lc.deleted_at:
            rows.append((lc, "deleted", lc.deleted_at))
    store.insert(
        "vm_inventory",
        {
            "vm_id": [r[0].vm_id for r in rows],
            "event_ts": [int(r[2].timestamp()) for r in rows],
            "event": [r[1] for r in rows],
            "name": [""] * len(rows),
            "bureau": [r[0].bureau for r in rows],
            "system": ["sys"] * len(rows),
            "pool": [r[0].pool for r in rows],
            "provider": [provider] * len(rows),
            "vcpu": [4] * len(rows),
            "mem_gb": [Decimal(8)] * len(rows),
            "version": [1] * len(rows),
        },
    )
