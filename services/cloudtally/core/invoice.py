"""Provider invoices: column mappings, row parsing and validation (no I/O).

Providers send invoices in their own CSV/XLSX layouts (Chinese headers are
normal) or in FOCUS form. A :class:`InvoiceMapping` says which header holds
which field; :class:`LineParser` turns one row of strings into an
:class:`InvoiceLine` or raises :class:`RowError` naming the row, the column
and the reason, so a bad invoice is rejected with every problem listed.

Money is Decimal, rounded ROUND_HALF_UP to 0.01 CNY per line on import
(FOCUS exports often carry fractions of a fen). Periods are half-open
``[start, end)`` instants; naive dates and times are read in the mapping's
time zone (Asia/Shanghai by default), a date-only end is inclusive (the
whole day counts) unless the mapping declares ``period_end: exclusive``.
Quantities and prices carry their time basis (hour, day, month) from the
mapping's ``units`` or the line's unit text (see :mod:`cloudtally.core.units`).
Money is CNY: another currency is refused unless converted with a rate the
user gives (:func:`convert_currency`).
"""

from __future__ import annotations

import codecs
import copy
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cloudtally.core.refusal import BadValue
from cloudtally.core.units import BASES, basis_of

FEN = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999999999.99")  # Decimal(18, 2)
MAX_QUANTITY = Decimal("99999999999999.999999")  # Decimal(20, 6)

ResourceType = Literal[
    "vcpu", "memory", "storage_performance", "storage_standard", "storage_archive"
]
RESOURCE_TYPES: tuple[str, ...] = (
    "vcpu",
    "memory",
    "storage_performance",
    "storage_standard",
    "storage_archive",
)

# Names providers use for the resource types cloudtally meters. Keys are
# normalised with :func:`norm_key`; a provider mapping adds its own.
DEFAULT_TYPE_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        [
            "vcpu",
            "cpu",
            "vcpus",
            "计算",
            "cpu核",
            "vcpu核",
            "云主机cpu",
            "cores",
            "core",
            "compute",
        ],
        "vcpu",
    ),
    **dict.fromkeys(["memory", "mem", "ram", "内存", "云主机内存", "memorygb"], "memory"),
    **dict.fromkeys(
        [
            "storage_performance",
            "ssd",
            "高性能存储",
            "性能型存储",
            "高性能云盘",
            "ssd云盘",
            "performance",
            "storageperformance",
        ],
        "storage_performance",
    ),
    **dict.fromkeys(
        [
            "storage_standard",
            "hdd",
            "标准存储",
            "普通存储",
            "容量型存储",
            "普通云盘",
            "standard",
            "storagestandard",
        ],
        "storage_standard",
    ),
    **dict.fromkeys(
        [
            "storage_archive",
            "cold",
            "archive",
            "归档存储",
            "冷存储",
            "低频存储",
            "storagearchive",
        ],
        "storage_archive",
    ),
}

# Fields an InvoiceLine can be filled from, and which a mapping must provide.
FIELDS: tuple[str, ...] = (
    "resource_id",
    "resource_name",
    "resource_type",
    "period",
    "period_start",
    "period_end",
    "billing_period_start",
    "billing_period_end",
    "quantity",
    "unit",
    "unit_price",
    "list_amount",
    "discount_rate",
    "contracted_unit_price",
    "contracted_amount",
    "amount",
    "currency",
    "charge_category",
    "charge_class",
    "pool",
    "region",
    "sku",
    "description",
    "invoice_no",
    "provider_name",
    "bureau",
    "price_unit",
)
REQUIRED_FIELDS: tuple[str, ...] = ("resource_id", "resource_type", "quantity", "amount")


class InvoiceError(BadValue):
    """The whole file is unusable (encoding, header, size); says what to fix."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row: spreadsheet row number (header is row 1), column header, reason."""

    row: int
    column: str
    reason: str  # English, as written at import time
    value: str = ""
    reason_id: str = ""  # the catalogue's import.<id>; '' = only the English reason
    params: tuple[tuple[str, str], ...] = ()  # the reason's placeholders

    def __str__(self) -> str:
        shown = f" (value {self.value!r})" if self.value else ""
        where = f"row {self.row}, column {self.column!r}" if self.column else f"row {self.row}"
        return f"{where}: {self.reason}{shown}"


class RowRejected(ValueError):
    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


# Not frozen (but hashable and never mutated): a frozen dataclass's __init__ sets
# each of these 27 fields through object.__setattr__, 4 µs a line on import and
# again on verification.
@dataclass(slots=True, unsafe_hash=True)
class InvoiceLine:
    """One charge as the provider billed it, normalised for matching.

    ``resource_key`` and ``resource_type`` are the normalised forms used to
    match metered usage; the raw text stays for the report. ``discount_rate``
    is the overall ratio the provider says it charged (0.55 = 55 % of list,
    "5.5折"). ``amount`` is what the provider bills for this line.
    """

    line_no: int
    resource_id: str
    resource_key: str
    resource_type_raw: str
    resource_type: str  # canonical, or "" when the alias map does not know it
    period_start: dt.datetime
    period_end: dt.datetime
    quantity: Decimal
    amount: Decimal
    unit: str = ""
    unit_price: Decimal | None = None
    list_amount: Decimal | None = None
    discount_rate: Decimal | None = None
    contracted_unit_price: Decimal | None = None
    contracted_amount: Decimal | None = None
    resource_name: str = ""
    charge_category: str = "usage"
    charge_class: str = ""
    currency: str = "CNY"
    pool: str = ""
    region: str = ""
    sku: str = ""
    description: str = ""
    invoice_no: str = ""
    provider_name: str = ""
    billing_period_start: dt.datetime | None = None
    billing_period_end: dt.datetime | None = None
    bureau: str = ""  # the bureau the provider bills the line to (委办局), as mapped
    quantity_per: str = ""  # time basis of quantity: hour | day | month | "" (catalog unit)
    price_per: str = ""  # time basis of unit prices (defaults to the quantity's)


@dataclass(frozen=True)
class UnitDeclaration:
    """The time bases a mapping declares for quantities and prices ('' = not declared)."""

    quantity: str = ""
    price: str = ""


@dataclass(frozen=True)
class InvoiceMapping:
    """How one provider lays out its invoice. Loaded from YAML/JSON, validated."""

    provider: str
    columns: Mapping[str, tuple[str, ...]]
    format: Literal["csv", "xlsx", "focus"] = "csv"
    encoding: str = "auto"
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    delimiter: str = ","
    resource_types: Mapping[str, str] = field(default_factory=dict)
    sheet: str | None = None
    units: UnitDeclaration = UnitDeclaration()
    units_by_type: Mapping[str, UnitDeclaration] = field(default_factory=dict)
    unit_aliases: Mapping[str, str] = field(default_factory=dict)
    period_end: Literal["inclusive", "exclusive"] = "inclusive"
    bureaus: Mapping[str, str] = field(default_factory=dict)

    def declared_units(self, resource_type: str) -> UnitDeclaration:
        """The mapping's declaration for a resource type (a per-type entry wins per field)."""
        own = self.units_by_type.get(resource_type)
        if own is None:
            return self.units
        return UnitDeclaration(own.quantity or self.units.quantity, own.price or self.units.price)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def type_aliases(self) -> dict[str, str]:
        merged = dict(DEFAULT_TYPE_ALIASES)
        merged.update({norm_key(k): v for k, v in self.resource_types.items()})
        return merged


def mapping_from_dict(doc: Mapping[str, Any]) -> InvoiceMapping:
    """Validate a mapping document (already parsed from YAML/JSON)."""
    if not isinstance(doc, Mapping):
        raise InvoiceError(
            "mapping must be an object with 'provider' and 'columns'", "map_not_object"
        )
    unknown = set(doc) - {
        "provider",
        "columns",
        "format",
        "encoding",
        "timezone",
        "currency",
        "delimiter",
        "resource_types",
        "sheet",
        "units",
        "period_end",
        "bureaus",
    }
    if unknown:
        keys = ", ".join(sorted(map(str, unknown)))
        raise InvoiceError(f"mapping has unknown keys: {keys}", "map_unknown_keys", keys=keys)
    provider = doc.get("provider")
    if not isinstance(provider, str) or not provider.strip():
        raise InvoiceError("mapping.provider must be a non-empty string", "map_provider")
    cols_doc = doc.get("columns")
    if not isinstance(cols_doc, Mapping) or not cols_doc:
        raise InvoiceError("mapping.columns must map field names to header names", "map_columns")
    columns: dict[str, tuple[str, ...]] = {}
    for name, headers in cols_doc.items():
        if name not in FIELDS:
            raise InvoiceError(
                f"mapping.columns.{name}: unknown field; known: {', '.join(FIELDS)}",
                "map_unknown_field",
                name=name,
                known=", ".join(FIELDS),
            )
        names = (headers,) if isinstance(headers, str) else tuple(headers or ())
        if not names or not all(isinstance(h, str) and h.strip() for h in names):
            raise InvoiceError(
                f"mapping.columns.{name}: give a header name or a list of them",
                "map_header_names",
                name=name,
            )
        columns[name] = names
    missing = [f for f in REQUIRED_FIELDS if f not in columns]
    if "period" not in columns and not {"period_start", "period_end"} <= set(columns):
        missing.append("period (or period_start and period_end)")
    if missing:
        raise InvoiceError(
            f"mapping.columns lacks required fields: {', '.join(missing)}",
            "map_required",
            missing=", ".join(missing),
        )
    fmt = doc.get("format", "csv")
    if fmt not in ("csv", "xlsx", "focus"):
        raise InvoiceError("mapping.format must be csv, xlsx or focus", "map_format")
    encoding = str(doc.get("encoding", "auto")).lower()
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InvoiceError(
                f"mapping.encoding {encoding!r} is not a known encoding",
                "map_encoding",
                value=repr(encoding),
            ) from None
    tz = str(doc.get("timezone", "Asia/Shanghai"))
    try:
        ZoneInfo(tz)
    except Exception:
        raise InvoiceError(
            f"mapping.timezone {tz!r} is not a known time zone", "map_timezone", value=repr(tz)
        ) from None
    types = doc.get("resource_types") or {}
    if not isinstance(types, Mapping):
        raise InvoiceError(
            "mapping.resource_types must map provider names to resource types", "map_types"
        )
    for k, v in types.items():
        _one_of(v, RESOURCE_TYPES, f"resource_types.{k}", "map_type", k)
    delimiter = str(doc.get("delimiter", ","))
    if len(delimiter) != 1:
        raise InvoiceError("mapping.delimiter must be one character", "map_delimiter")
    units, by_type, unit_aliases = _units_from_doc(doc.get("units"))
    period_end = doc.get("period_end", "inclusive")
    if period_end not in ("inclusive", "exclusive"):
        raise InvoiceError(
            "mapping.period_end must be inclusive (a date-only end is the last day billed) "
            "or exclusive (the first day not billed)",
            "map_period_end",
        )
    bureaus = doc.get("bureaus") or {}
    if not isinstance(bureaus, Mapping) or not all(
        isinstance(v, str) and v.strip() for v in bureaus.values()
    ):
        raise InvoiceError(
            "mapping.bureaus must map the provider's bureau names to bureau ids", "map_bureaus"
        )
    currency = currency_code(str(doc.get("currency", "CNY")))
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise InvoiceError(
            f"mapping.currency {currency!r} is not an ISO 4217 code like CNY",
            "map_currency",
            value=repr(currency),
        )
    return InvoiceMapping(
        provider=provider.strip(),
        columns=columns,
        format=fmt,
        encoding=encoding,
        timezone=tz,
        currency=currency,
        delimiter=delimiter,
        resource_types={str(k): str(v) for k, v in types.items()},
        sheet=doc.get("sheet"),
        units=units,
        units_by_type=by_type,
        unit_aliases=unit_aliases,
        period_end=period_end,
        bureaus={norm_key(str(k)): str(v).strip() for k, v in bureaus.items()},
    )


def _basis(value: object, where: str) -> str:
    _one_of(value, BASES, f"units.{where}", "map_basis", where)
    return str(value)


def _one_of(value: object, known: Sequence[str], where: str, reason_id: str, name: str) -> None:
    """A mapping value outside its closed set: refused with the set spelled out."""
    if value not in known:
        raise InvoiceError(
            f"mapping.{where}: {value!r} is not one of {', '.join(known)}",
            reason_id,
            name=name,
            value=repr(value),
            known=", ".join(known),
        )


def _units_from_doc(
    doc: object,
) -> tuple[UnitDeclaration, dict[str, UnitDeclaration], dict[str, str]]:
    """``units: {quantity, price, <resource type>: {quantity, price}, aliases: {text: basis}}``."""
    if doc is None:
        return UnitDeclaration(), {}, {}
    if not isinstance(doc, Mapping):
        raise InvoiceError(
            "mapping.units must be an object (quantity, price, per type, aliases)", "map_units"
        )
    default = UnitDeclaration()
    by_type: dict[str, UnitDeclaration] = {}
    aliases: dict[str, str] = {}
    for key, value in doc.items():
        if key in ("quantity", "price"):
            b = _basis(value, key)
            default = UnitDeclaration(
                b if key == "quantity" else default.quantity, b if key == "price" else default.price
            )
        elif key == "aliases":
            if not isinstance(value, Mapping):
                raise InvoiceError(
                    "mapping.units.aliases must map unit texts to hour/day/month", "map_aliases"
                )
            for text, b in value.items():
                aliases[unicodedata.normalize("NFKC", str(text)).strip().casefold()] = _basis(
                    b, f"aliases.{text}"
                )
        elif key in RESOURCE_TYPES:
            if not isinstance(value, Mapping) or not set(value) <= {"quantity", "price"}:
                raise InvoiceError(
                    f"mapping.units.{key} must be {{quantity: ..., price: ...}}",
                    "map_unit_decl",
                    name=key,
                )
            by_type[str(key)] = UnitDeclaration(
                _basis(value["quantity"], f"{key}.quantity") if "quantity" in value else "",
                _basis(value["price"], f"{key}.price") if "price" in value else "",
            )
        else:
            raise InvoiceError(
                f"mapping.units.{key}: unknown key; use quantity, price, aliases or a resource "
                f"type ({', '.join(RESOURCE_TYPES)})",
                "map_units_key",
                name=key,
                known=", ".join(RESOURCE_TYPES),
            )
    return default, by_type, aliases


BASE_CURRENCY = "CNY"
# Currency names providers write → ISO 4217 (keys normalised with norm_key).
CURRENCY_NAMES: dict[str, str] = {
    **dict.fromkeys(["cny", "rmb", "人民币", "元", "人民币元", "¥", "￥"], "CNY"),
    **dict.fromkeys(["usd", "美元", "us$", "$"], "USD"),
    **dict.fromkeys(["hkd", "港币", "港元"], "HKD"),
    **dict.fromkeys(["eur", "欧元", "€"], "EUR"),
}


def currency_code(text: str) -> str:
    """'人民币' → CNY, 'usd' → USD; an unknown name is kept (upper case) and so refused."""
    key = norm_key(text)
    return CURRENCY_NAMES.get(key, key.upper())


def parse_exchange_rate(text: str) -> Decimal:
    """A rate as the user types it (CNY per unit of the invoice's currency); positive."""
    try:
        rate = Decimal(text.strip())
    except ArithmeticError:
        rate = Decimal(0)
    if not rate.is_finite() or rate <= 0:
        raise BadValue(
            f"expected a positive number (CNY per unit), got {text!r}",
            "rate_not_positive",
            value=text,
        )
    return rate


def convert_currency(
    lines: Sequence[InvoiceLine], currency: str, rate: Decimal
) -> list[InvoiceLine]:
    """Lines billed in ``currency`` converted to CNY at ``rate`` (CNY per unit).

    Products are exact Decimals; amounts are then rounded ROUND_HALF_UP to the
    fen per line, as every amount is, and unit prices kept exact. A line in any
    other currency is refused (the caller names it).
    """
    if rate <= 0:
        raise InvoiceError(
            f"the exchange rate must be positive, got {rate}", "rate_not_positive", value=rate
        )
    out = []
    for ln in lines:
        if ln.currency == BASE_CURRENCY:
            out.append(ln)
            continue
        if ln.currency != currency:
            raise InvoiceError(
                f"row {ln.line_no} is in {ln.currency}; the rate given converts {currency}",
                "row_other_currency",
                row=ln.line_no,
                currency=ln.currency,
                converts=currency,
            )
        c = copy.copy(ln)
        c.amount = money(ln.amount * rate)
        c.unit_price = None if ln.unit_price is None else ln.unit_price * rate
        c.list_amount = None if ln.list_amount is None else money(ln.list_amount * rate)
        c.contracted_unit_price = (
            None if ln.contracted_unit_price is None else ln.contracted_unit_price * rate
        )
        c.contracted_amount = (
            None if ln.contracted_amount is None else money(ln.contracted_amount * rate)
        )
        c.currency = BASE_CURRENCY
        out.append(c)
    return out


# The provider CSV layout cloudtally's own generator writes (Chinese headers).
PROVIDER_CSV_HEADERS: dict[str, str] = {
    "resource_id": "资源ID",
    "resource_name": "资源名称",
    "resource_type": "资源类型",
    "period": "计费周期",
    "quantity": "数量",
    "unit": "单位",
    "unit_price": "单价",
    "list_amount": "原价金额",
    "discount_rate": "折扣",
    "amount": "金额",
    "pool": "资源池",
    "currency": "币种",
    "charge_category": "费用类型",
    "description": "备注",
}

# Charge categories as providers write them → FOCUS ChargeCategory (lower case).
CHARGE_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(["usage", "使用", "用量", "使用费", "资源使用"], "usage"),
    **dict.fromkeys(["credit", "抵扣", "优惠", "减免", "折让", "credits"], "credit"),
    **dict.fromkeys(["adjustment", "调整", "调账"], "adjustment"),
    **dict.fromkeys(["tax", "税", "税费", "税金"], "tax"),
    **dict.fromkeys(["purchase", "购买", "预付"], "purchase"),
}


def default_provider_mapping(provider: str) -> InvoiceMapping:
    """The Chinese-header layout (资源ID, 资源类型, 计费周期, 数量, 单价, 金额, 折扣 ...)."""
    cols: dict[str, tuple[str, ...]] = {k: (v,) for k, v in PROVIDER_CSV_HEADERS.items()}
    cols["resource_id"] = ("资源ID", "资源编号", "实例ID", "云主机ID")
    cols["resource_type"] = ("资源类型", "计费项", "产品类型")
    cols["amount"] = ("金额", "应付金额", "费用", "实付金额")
    cols["unit_price"] = ("单价", "目录单价")
    return InvoiceMapping(provider=provider, columns=cols, format="csv")


# FOCUS 1.x cost-and-usage columns. ProviderName was renamed ServiceProviderName
# in 1.3; either is accepted. The resource dimension (vCPU, memory, storage
# tier) of a VM charge is in SkuMeter when the provider fills it.
FOCUS_COLUMNS: dict[str, tuple[str, ...]] = {
    "resource_id": ("ResourceId",),
    "resource_name": ("ResourceName",),
    "resource_type": ("SkuMeter", "ResourceType"),
    "period_start": ("ChargePeriodStart",),
    "period_end": ("ChargePeriodEnd",),
    "billing_period_start": ("BillingPeriodStart",),
    "billing_period_end": ("BillingPeriodEnd",),
    "quantity": ("PricingQuantity",),
    "unit": ("PricingUnit",),
    "unit_price": ("ListUnitPrice",),
    "list_amount": ("ListCost",),
    "contracted_unit_price": ("ContractedUnitPrice",),
    "contracted_amount": ("ContractedCost",),
    "amount": ("BilledCost",),
    "currency": ("BillingCurrency",),
    "charge_category": ("ChargeCategory",),
    "charge_class": ("ChargeClass",),
    "pool": ("AvailabilityZone", "RegionName"),
    "region": ("RegionName", "RegionId"),
    "sku": ("SkuId",),
    "description": ("ChargeDescription",),
    "invoice_no": ("InvoiceId",),
    "provider_name": ("ServiceProviderName", "ProviderName"),
}
FOCUS_REQUIRED: tuple[str, ...] = (
    "resource_id",
    "resource_type",
    "period_start",
    "period_end",
    "quantity",
    "amount",
    "charge_category",
)


def focus_mapping(provider: str, resource_types: Mapping[str, str] | None = None) -> InvoiceMapping:
    return InvoiceMapping(
        provider=provider,
        columns=FOCUS_COLUMNS,
        format="focus",
        encoding="auto",
        timezone="UTC",
        resource_types=dict(resource_types or {}),
        period_end="exclusive",  # FOCUS: ChargePeriodEnd / BillingPeriodEnd are exclusive
    )


# ---------------------------------------------------------------- normalising

_SPACES = re.compile(r"\s+")


def norm_key(text: str) -> str:
    """Identifier/alias key: NFKC (full-width → ASCII), case-folded, no whitespace."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).casefold().replace("-", "_")


def norm_resource_id(text: str) -> str:
    """Resource ids match case-insensitively, ignoring whitespace and full-width forms."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).casefold()


def norm_header(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", text.lstrip("\ufeff"))).casefold()


def money(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    """Money as printed everywhere: two decimals, never '-0.9' or '1E+2'."""
    return format(money(value), "f")


_NUMBER_JUNK = str.maketrans("", "", ",¥￥元 \u00a0\u3000")


_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_decimal(text: str) -> Decimal:
    """A number as providers write it: thousands separators, ¥/元, (negative)."""
    if _PLAIN_NUMBER.fullmatch(text):
        return Decimal(text)
    s = unicodedata.normalize("NFKC", text).translate(_NUMBER_JUNK)
    negative = s.startswith("(") and s.endswith(")")
    if negative:
        s = s[1:-1]
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise BadValue("not a number", "not_a_number") from None
    if not d.is_finite():
        raise BadValue("not a finite number", "not_finite")
    return -d if negative else d


def parse_rate(text: str) -> Decimal:
    """A discount ratio: '0.55', '55%', '5.5折' all mean 55 % of list is charged."""
    if _PLAIN_NUMBER.fullmatch(text):
        d = Decimal(text)
        d = d / 100 if d > 1 else d
        if d < 0 or d > 1:
            raise BadValue(
                "a discount ratio must be between 0 and 1 (or 0-100 %)", "discount_range"
            )
        return d
    s = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if s.endswith("%"):
        d = parse_decimal(s[:-1]) / 100
    elif s.endswith("折"):
        d = parse_decimal(s[:-1]) / 10
    else:
        d = parse_decimal(s)
        if d > 1:
            d = d / 100  # "55" in a 折扣(%) column
    if d < 0 or d > 1:
        raise BadValue("a discount ratio must be between 0 and 1 (or 0-100 %)", "discount_range")
    return d


_MONTH = re.compile(r"^(\d{4})[-/.年](\d{1,2})月?$")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_RANGE = re.compile(r"^(.+?)\s*(?:~|～|至|到|—|–|\s-\s|/(?=\d{4}))\s*(.+)$")


class PeriodParser:
    """Parses period text, cached: an invoice repeats a handful of periods."""

    def __init__(self, tz: ZoneInfo, *, end_inclusive: bool = True) -> None:
        self.tz = tz
        self.end_inclusive = end_inclusive
        self._cache: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        self._instant: dict[str, tuple[dt.datetime, bool]] = {}

    def period(self, text: str) -> tuple[dt.datetime, dt.datetime]:
        """'2024-01', '2024年1月', '2024-01-05', '2024-01-01~2024-01-31' → [start, end)."""
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        s = unicodedata.normalize("NFKC", text).strip()
        m = _MONTH.match(s)
        if m:
            y, mo = int(m[1]), int(m[2])
            start = dt.datetime(y, mo, 1, tzinfo=self.tz)
            end = dt.datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=self.tz)
            out = (start, end)
        else:
            r = _RANGE.match(s)
            if r and not _DATE.match(s):
                start = self.instant(r[1])
                end = self.instant(r[2], end=self.end_inclusive)
                out = (start, end)
            else:  # one date: that whole day, however ends are written
                out = (self.instant(s), self.instant(s, end=True))
        if out[1] <= out[0]:
            raise BadValue("period ends before it starts", "ends_before_start")
        self._cache[text] = out
        return out

    def instant(self, text: str, *, end: bool = False) -> dt.datetime:
        """A date (a whole day; as an end it is inclusive) or an ISO date-time."""
        key = ("E" if end else "S") + text
        hit = self._instant.get(key)
        if hit is not None:
            return hit[0]
        s = unicodedata.normalize("NFKC", text).strip()
        m = _DATE.match(s)
        if m:
            try:
                day = dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                raise BadValue("not a valid date", "not_a_valid_date") from None
            value = dt.datetime.combine(day, dt.time(), self.tz)
            if end:
                value += dt.timedelta(days=1)
        else:
            try:
                value = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
            except ValueError:
                raise BadValue(
                    "not a date or date-time (use 2024-01, 2024-01-31 or ISO)", "not_a_date"
                ) from None
            if value.tzinfo is None:
                value = value.replace(tzinfo=self.tz)
        value = value.astimezone(dt.UTC)
        self._instant[key] = (value, end)
        return value


# ------------------------------------------------------------------- parsing


class LineParser:
    """Turns rows of strings into InvoiceLines for one header and mapping."""

    def __init__(self, header: Sequence[str], mapping: InvoiceMapping) -> None:
        self.mapping = mapping
        self.header = [str(h or "").strip().lstrip("\ufeff") for h in header]
        if not any(self.header):
            raise InvoiceError("the first row is empty: expected a header row", "no_header")
        index = {norm_header(h): i for i, h in enumerate(self.header) if h}
        self.pos: dict[str, int] = {}
        for name, candidates in mapping.columns.items():
            for cand in candidates:
                i = index.get(norm_header(cand))
                if i is not None:
                    self.pos[name] = i
                    break
        required = FOCUS_REQUIRED if mapping.format == "focus" else REQUIRED_FIELDS
        missing = [" or ".join(mapping.columns.get(f, (f,))) for f in required if f not in self.pos]
        if "period" not in self.pos and not {"period_start", "period_end"} <= set(self.pos):
            want = mapping.columns.get("period") or (
                mapping.columns.get("period_start", ("period_start",))[0]
                + " + "
                + mapping.columns.get("period_end", ("period_end",))[0]
            )
            missing.append(" or ".join(want))
        if missing:
            hint = ""
            if _looks_garbled(self.header) or not self.pos:
                hint = " (no expected header found: is the encoding or the provider mapping wrong?)"
            has = ", ".join(h for h in self.header if h)[:400]
            raise InvoiceError(
                "missing columns: " + "; ".join(missing) + f"; the file has: {has}" + hint,
                "missing_columns_garbled" if hint else "missing_columns",
                missing="; ".join(missing),
                has=has,
            )
        self.width = len(self.header)
        self.periods = PeriodParser(mapping.tz, end_inclusive=mapping.period_end == "inclusive")
        self.aliases = mapping.type_aliases()
        self._name = {f: self.header[i] for f, i in self.pos.items()}
        self._items = tuple(self.pos.items())
        self._types: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._units: dict[tuple[str, str, str], tuple[str, str]] = {}

    def _key(self, rid: str) -> str:
        key = self._keys.get(rid)
        if key is None:
            if len(self._keys) > 200_000:
                self._keys.clear()
            key = self._keys[rid] = norm_resource_id(rid)
        return key

    def block_type(self, text: str) -> str:
        """The resource type of a raw type cell ('' for an unknown one), memoised per text."""
        rtype = self._types.get(text)
        if rtype is None:
            rtype = self._types[text] = self.aliases.get(norm_key(text), "")
        return rtype

    def block_period(self, key: tuple[str, str, str]) -> tuple[dt.datetime, dt.datetime]:
        """(start, end) of a (period, period_start, period_end) cell triple, as the row
        parser reads it; NotPlain where the row parser would refuse the line."""
        text, s_txt, e_txt = key
        if "period" in self.pos and text:
            return self.periods.period(text)
        if not s_txt or not e_txt:
            raise NotPlain
        start = self.periods.instant(s_txt)
        end = self.periods.instant(e_txt, end=self._inclusive_end(e_txt))
        if end <= start:
            raise NotPlain
        return start, end

    def block_billing(self, key: tuple[str, str]) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(start, end) of a billing-period cell pair; (None, None) unless both are given."""
        b_s, b_e = key
        if not (b_s and b_e):
            return None, None
        return (
            self.periods.instant(b_s),
            self.periods.instant(b_e, end=self._inclusive_end(b_e)),
        )

    def _inclusive_end(self, text: str) -> bool:
        """A date-only end is the last day billed (inclusive) unless the mapping says not."""
        return self.periods.end_inclusive and _DATE.match(text.strip()) is not None

    def units(self, rtype: str, unit_text: str, price_text: str) -> tuple[str, str]:
        """(quantity basis, price basis) of a line: the mapping's declaration, else the unit
        columns' text; a declaration the line's own unit text contradicts is an error."""
        key = (rtype, unit_text, price_text)
        hit = self._units.get(key)
        if hit is not None:
            return hit
        declared = self.mapping.declared_units(rtype)
        aliases = self.mapping.unit_aliases
        from_unit = basis_of(unit_text, aliases) if unit_text else ""
        from_price = basis_of(price_text, aliases) if price_text else ""
        if declared.quantity and from_unit and from_unit != declared.quantity:
            raise BadValue(
                f"the unit {unit_text!r} is per {from_unit} but the mapping declares "
                f"quantities per {declared.quantity}",
                "unit_contradicts",
                unit=unit_text,
                basis=from_unit,
                declared=declared.quantity,
            )
        if declared.price and from_price and from_price != declared.price:
            raise BadValue(
                f"the price unit {price_text!r} is per {from_price} but the mapping declares "
                f"prices per {declared.price}",
                "price_unit_contradicts",
                unit=price_text,
                basis=from_price,
                declared=declared.price,
            )
        q = declared.quantity or from_unit
        out = (q, declared.price or from_price or q)
        self._units[key] = out
        return out

    def bureau(self, text: str) -> str:
        """The provider's bureau name as the inventory's bureau id (the mapping's aliases)."""
        if not text:
            return ""
        return self.mapping.bureaus.get(norm_key(text), text)

    def column_name(self, field_name: str) -> str:
        return self._name.get(field_name, field_name)

    def _text(self, row: Mapping[str, str], name: str) -> str:
        return row.get(name, "")

    def _values(self, raw: Sequence[str]) -> dict[str, str]:
        w = len(raw)
        return {n: (raw[i] or "").strip() for n, i in self._items if i < w}

    def _fail(
        self, row_no: int, name: str, reason: str | ValueError, value: str = "", rid: str = ""
    ) -> RowRejected:
        """``reason``: the English text and its id ``rid``, or the parser's refusal."""
        params: tuple[tuple[str, str], ...] = ()
        if isinstance(reason, BadValue):
            rid, params = reason.reason_id, tuple(reason.params.items())
        text = str(reason)
        return RowRejected(RowError(row_no, self.column_name(name), text, value[:80], rid, params))

    def _dec(
        self, row: Mapping[str, str], row_no: int, name: str, *, required: bool
    ) -> Decimal | None:
        s = self._text(row, name)
        if not s:
            if required:
                raise self._fail(row_no, name, "empty; a number is required", rid="empty_number")
            return None
        try:
            return parse_decimal(s)
        except ValueError as exc:
            raise self._fail(row_no, name, exc, s) from None

    def _amount(
        self, row: Mapping[str, str], row_no: int, name: str, *, required: bool
    ) -> Decimal | None:
        d = self._dec(row, row_no, name, required=required)
        if d is None:
            return None
        if abs(d) > MAX_AMOUNT:
            raise self._fail(
                row_no, name, "amount out of range", self._text(row, name), "amount_range"
            )
        return money(d)

    def is_blank(self, row: Sequence[str]) -> bool:
        """Every cell empty or whitespace (a data row usually answers at its first cell)."""
        return not any(c and not c.isspace() for c in row)

    def parse(self, row_no: int, raw: Sequence[str]) -> InvoiceLine:
        """One data row → InvoiceLine, or RowRejected naming row, column and reason."""
        if len(raw) > self.width and any((c or "").strip() for c in raw[self.width :]):
            cells = len(raw)
            raise RowRejected(
                RowError(
                    row_no,
                    "",
                    f"{cells} cells but the header has {self.width} columns",
                    reason_id="row_wider_than_header",
                    params=(("cells", str(cells)), ("columns", str(self.width))),
                )
            )
        row = self._values(raw)
        cat_raw = self._text(row, "charge_category")
        category = (
            CHARGE_CATEGORIES.get(norm_key(cat_raw), norm_key(cat_raw)) if cat_raw else "usage"
        )
        is_usage = category == "usage"
        rid = self._text(row, "resource_id")
        if not rid and is_usage:
            raise self._fail(
                row_no, "resource_id", "empty; a resource id is required", rid="empty_resource_id"
            )
        type_raw = self._text(row, "resource_type")
        if not type_raw and is_usage:
            raise self._fail(
                row_no,
                "resource_type",
                "empty; a resource type is required",
                rid="empty_resource_type",
            )
        rtype = self._types.get(type_raw)
        if rtype is None:
            rtype = self._types[type_raw] = self.aliases.get(norm_key(type_raw), "")
        try:
            if "period" in self.pos and self._text(row, "period"):
                start, end = self.periods.period(self._text(row, "period"))
            else:
                s_txt, e_txt = self._text(row, "period_start"), self._text(row, "period_end")
                if not s_txt:
                    name = "period_start" if "period_start" in self.pos else "period"
                    raise self._fail(
                        row_no, name, "empty; a charge period is required", rid="empty_period"
                    )
                if not e_txt:
                    raise self._fail(
                        row_no,
                        "period_end",
                        "empty; a charge period end is required",
                        rid="empty_period_end",
                    )
                start = self.periods.instant(s_txt)
                end = self.periods.instant(e_txt, end=self._inclusive_end(e_txt))
                if end <= start:
                    raise self._fail(
                        row_no, "period_end", "ends before it starts", e_txt, "ends_before_start"
                    )
        except ValueError as exc:
            if isinstance(exc, RowRejected):
                raise
            name = "period" if "period" in self.pos else "period_start"
            raise self._fail(row_no, name, exc, self._text(row, name)) from None
        bstart = bend = None
        b_s, b_e = self._text(row, "billing_period_start"), self._text(row, "billing_period_end")
        if b_s and b_e:
            try:
                bstart = self.periods.instant(b_s)
                bend = self.periods.instant(b_e, end=self._inclusive_end(b_e))
            except ValueError as exc:
                raise self._fail(row_no, "billing_period_start", exc, b_s) from None
        quantity = self._dec(row, row_no, "quantity", required=is_usage) or Decimal(0)
        if quantity < 0 and is_usage:
            raise self._fail(
                row_no,
                "quantity",
                "negative quantity",
                self._text(row, "quantity"),
                "negative_quantity",
            )
        if abs(quantity) > MAX_QUANTITY:
            raise self._fail(
                row_no,
                "quantity",
                "quantity out of range",
                self._text(row, "quantity"),
                "quantity_range",
            )
        unit_price = self._dec(row, row_no, "unit_price", required=False)
        if unit_price is not None and unit_price < 0:
            raise self._fail(
                row_no,
                "unit_price",
                "negative unit price",
                self._text(row, "unit_price"),
                "negative_unit_price",
            )
        amount = self._amount(row, row_no, "amount", required=True)
        assert amount is not None
        rate_txt = self._text(row, "discount_rate")
        rate = None
        if rate_txt:
            try:
                rate = parse_rate(rate_txt)
            except ValueError as exc:
                raise self._fail(row_no, "discount_rate", exc, rate_txt) from None
        currency = self._text(row, "currency") or self.mapping.currency
        unit_text, price_text = self._text(row, "unit"), self._text(row, "price_unit")
        try:
            q_per, p_per = self.units(rtype, unit_text, price_text)
        except ValueError as exc:
            name = "unit" if "unit" in self.pos else "price_unit"
            raise self._fail(row_no, name, exc, unit_text or price_text) from None
        return InvoiceLine(
            line_no=row_no,
            resource_id=rid,
            resource_key=self._key(rid),
            resource_type_raw=type_raw,
            resource_type=rtype,
            period_start=start,
            period_end=end,
            quantity=quantity,
            amount=amount,
            unit=self._text(row, "unit"),
            unit_price=unit_price,
            list_amount=self._amount(row, row_no, "list_amount", required=False),
            discount_rate=rate,
            contracted_unit_price=self._dec(row, row_no, "contracted_unit_price", required=False),
            contracted_amount=self._amount(row, row_no, "contracted_amount", required=False),
            resource_name=self._text(row, "resource_name"),
            charge_category=category,
            charge_class=self._text(row, "charge_class").casefold(),
            currency=currency_code(currency),
            pool=self._text(row, "pool"),
            region=self._text(row, "region"),
            sku=self._text(row, "sku"),
            description=self._text(row, "description"),
            invoice_no=self._text(row, "invoice_no"),
            provider_name=self._text(row, "provider_name"),
            billing_period_start=bstart,
            billing_period_end=bend,
            bureau=self.bureau(self._text(row, "bureau")),
            quantity_per=q_per,
            price_per=p_per,
        )

    def parse_many(
        self, rows: Sequence[tuple[int, Sequence[str]]]
    ) -> tuple[list[InvoiceLine], list[RowError]]:
        """Parse numbered rows: the lines of the valid ones and an error per bad one, in order.

        A column at a time, each distinct cell text parsed once (an invoice
        repeats its periods, types, quantities and prices); any row the fast
        path cannot take as certainly valid sends the whole batch through
        :meth:`parse`, so results and errors are exactly the row parser's.
        """
        try:
            return self._parse_columns(rows), []
        except Exception:  # anything unusual: the row parser decides, and says why
            pass
        lines: list[InvoiceLine] = []
        errors: list[RowError] = []
        for row_no, raw in rows:
            try:
                lines.append(self.parse(row_no, raw))
            except RowRejected as exc:
                errors.append(exc.error)
        return lines, errors

    def _parse_columns(self, rows: Sequence[tuple[int, Sequence[str]]]) -> list[InvoiceLine]:
        n = len(rows)
        if n == 0:
            return []
        raws = [r for _, r in rows]
        if set(map(len, raws)) != {self.width}:
            raise NotPlain
        cells = list(zip(*raws, strict=True))
        blank = [""] * n

        def text(name: str) -> list[str]:
            i = self.pos.get(name)
            return blank if i is None else list(map(str.strip, cells[i]))

        def per_text(values: list[str], fn: Callable[[str], Any]) -> list[Any]:
            table = {v: fn(v) for v in set(values)}
            return list(map(table.__getitem__, values))

        category = per_text(text("charge_category"), cell_category)
        usage = [c == "usage" for c in category]
        rid = text("resource_id")
        type_raw = text("resource_type")
        if any(u and (not r or not t) for u, r, t in zip(usage, rid, type_raw, strict=True)):
            raise NotPlain

        rtype = per_text(type_raw, self.block_type)
        keys = list(zip(text("period"), text("period_start"), text("period_end"), strict=True))
        table = {k: self.block_period(k) for k in set(keys)}
        periods = list(map(table.__getitem__, keys))

        bkeys = list(zip(text("billing_period_start"), text("billing_period_end"), strict=True))
        btable = {k: self.block_billing(k) for k in set(bkeys)}
        billing = list(map(btable.__getitem__, bkeys))

        quantities = text("quantity")
        unfit = per_text(quantities, unfit_for_usage)
        if any(u and bad for u, bad in zip(usage, unfit, strict=True)):
            raise NotPlain

        currency = self.mapping.currency

        def units_of(key: tuple[str, str, str]) -> tuple[str, str]:
            try:
                return self.units(*key)
            except ValueError:
                raise NotPlain from None

        ukeys = list(zip(rtype, text("unit"), text("price_unit"), strict=True))
        utable = {k: units_of(k) for k in set(ukeys)}
        units = list(map(utable.__getitem__, ukeys))
        return list(
            map(
                InvoiceLine,
                [no for no, _ in rows],
                rid,
                per_text(rid, self._key),
                type_raw,
                rtype,
                [p[0] for p in periods],
                [p[1] for p in periods],
                per_text(quantities, cell_quantity),
                per_text(text("amount"), cell_required_amount),
                text("unit"),
                per_text(text("unit_price"), cell_price),
                per_text(text("list_amount"), cell_amount),
                per_text(text("discount_rate"), cell_rate),
                per_text(text("contracted_unit_price"), cell_optional),
                per_text(text("contracted_amount"), cell_amount),
                text("resource_name"),
                category,
                per_text(text("charge_class"), str.casefold),
                per_text(text("currency"), lambda t: currency_code(t or currency)),
                text("pool"),
                text("region"),
                text("sku"),
                text("description"),
                text("invoice_no"),
                text("provider_name"),
                [b[0] for b in billing],
                [b[1] for b in billing],
                per_text(text("bureau"), self.bureau),
                [u[0] for u in units],
                [u[1] for u in units],
            )
        )


class NotPlain(Exception):
    """A cell or block the block fast paths (``LineParser.parse_many``, the columnar
    reader) do not take: the row parser decides it, and says why if it refuses."""


# The per-cell conversions both block fast paths share (each takes a stripped cell):
# the row parser's value, or NotPlain where the row parser would refuse or treat the
# line apart. ValueError or ArithmeticError from the parsers mean the same.
_ZERO = Decimal(0)


def cell_category(text: str) -> str:
    return CHARGE_CATEGORIES.get(norm_key(text), norm_key(text)) if text else "usage"


def cell_quantity(text: str) -> Decimal:
    """An empty quantity is 0 (on lines that are not usage); NotPlain beyond Decimal(20, 6)."""
    d = (parse_decimal(text) if text else None) or _ZERO
    if abs(d) > MAX_QUANTITY:
        raise NotPlain
    return d


def unfit_for_usage(text: str) -> bool:
    """A quantity the row parser refuses on a usage line (empty or negative)."""
    return not text or cell_quantity(text) < 0


def cell_price(text: str) -> Decimal | None:
    if not text:
        return None
    d = parse_decimal(text)
    if d < 0:
        raise NotPlain
    return d


def cell_amount(text: str) -> Decimal | None:
    if not text:
        return None
    d = parse_decimal(text)
    if abs(d) > MAX_AMOUNT:
        raise NotPlain
    return money(d)


def cell_required_amount(text: str) -> Decimal:
    """The line's amount: required (so also every blank row, which the row path skips)."""
    d = cell_amount(text)
    if d is None:
        raise NotPlain
    return d


def cell_optional(text: str) -> Decimal | None:
    return parse_decimal(text) if text else None


def cell_rate(text: str) -> Decimal | None:
    return parse_rate(text) if text else None


def _looks_garbled(header: Sequence[str]) -> bool:
    text = "".join(header)
    return "\ufffd" in text or bool(re.search(r"[\x80-\xff]", text))


@dataclass
class ParseResult:
    """Lines of a fully valid file, or the errors (capped) that reject it."""

    lines: list[InvoiceLine]
    errors: list[RowError]
    error_count: int
    rows: int

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.rows > 0


def parse_rows(
    rows: Iterable[Sequence[str]], mapping: InvoiceMapping, *, max_errors: int = 1000
) -> ParseResult:
    """Parse a whole table (header first) in memory; for tests and small files."""
    it = iter(rows)
    header = next(it, None)
    if header is None:
        raise InvoiceError("the file is empty: no header row", "no_header")
    parser = LineParser(header, mapping)
    lines: list[InvoiceLine] = []
    errors: list[RowError] = []
    count = n = 0
    for row_no, row in enumerate(it, start=2):
        if parser.is_blank(row):
            continue
        n += 1
        try:
            lines.append(parser.parse(row_no, row))
        except RowRejected as exc:
            count += 1
            if len(errors) < max_errors:
                errors.append(exc.error)
    if n == 0:
        raise InvoiceError("the file has a header but no invoice lines", "no_lines")
    return ParseResult(lines, errors, count, n)


# ------------------------------------------------------------------ encoding

ENCODINGS_TRIED = ("utf-8", "gb18030")


def detect_encoding(head: bytes) -> str:
    """Pick the encoding from the first bytes: BOM, else strict UTF-8, else GB18030.

    UTF-16 and binary files are refused here with a clear message rather than
    decoded into nonsense.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvoiceError("the file is UTF-16; save it as UTF-8 or GB18030 CSV", "utf16")
    if head.startswith(b"PK\x03\x04"):
        raise InvoiceError(
            "this is a ZIP/XLSX file, not CSV: import it with format xlsx", "zip_not_csv"
        )
    if b"\x00" in head[:4096]:
        raise InvoiceError("the file contains NUL bytes: not a text CSV", "nul_bytes")
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")("strict").decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise InvoiceError(
            "the file is neither UTF-8 nor GB18030 text; save it as UTF-8 or GB18030 CSV "
            "or set 'encoding' in the provider mapping",
            "unknown_encoding",
        ) from None


def decode_chunks(chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    """Decode a byte stream strictly; a bad byte is an error naming its offset."""
    name = "utf-8-sig" if encoding in ("utf-8", "utf8") else encoding
    decoder = codecs.getincrementaldecoder(name)("strict")
    offset = 0
    for chunk in chunks:
        try:
            text = decoder.decode(chunk, final=False)
        except UnicodeDecodeError as exc:
            raise InvoiceError(
                f"byte {offset + exc.start} is not valid {encoding}: the file is in another "
                "encoding (UTF-8, UTF-8 with BOM and GB18030 are read; set 'encoding' in the "
                "provider mapping)",
                "bad_byte",
                byte=offset + exc.start,
                encoding=encoding,
            ) from None
        offset += len(chunk)
        if text:
            yield text
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvoiceError(
            f"the file ends inside a {encoding} character: truncated?",
            "truncated",
            encoding=encoding,
        ) from None
    if tail:
        yield tail
