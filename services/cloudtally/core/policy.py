"""The tariff and policy file: versioned contract terms, validated on load.

Every number from a contract (catalog prices, tender discount, the
low-utilization cut, volume tiers, budgets, business hours, idle thresholds)
lives in this file, never in code. A version applies from its
``effective_from`` date (00:00 in the policy timezone, inclusive) until the
next version's date, so a mid-month tariff change splits a day's usage at
hour granularity.

Semantics fixed here (and in ``policy/example.yaml``):

* Prices are catalog list prices in CNY per unit, stated per hour
  (``vcpu_hour``) or per month (``vcpu_month``). A monthly price becomes
  hourly by dividing by the version's ``hours_per_month`` (default 720 =
  30 days): a 31-day month therefore bills 744/720 of the monthly price.
  The division is kept exact (rational) until the line is rounded.
* ``tender_discount: 0.55`` means the buyer pays 55 % of list (中标折扣 55 %).
* ``low_utilization.price_cut: 0.30`` means the unit price of a low-utilization
  resource is reduced by 30 % (pay 70 % of the discounted price).
* ``volume_tiers[].cut: 0.02`` means 2 % of the fee is taken off.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cloudtally.core.calendar import CalendarPolicy, OfficialCalendar, OfficialYear
from cloudtally.core.idle import UtilizationPolicy
from cloudtally.core.refusal import BadValue
from cloudtally.core.sla import Sla, SlaVersion

SCHEMA: Literal["cloudtally.policy/1"] = "cloudtally.policy/1"

# Resources a bill line can be about. The first five are billed from
# usage_hourly today; the others are catalog items kept in the model so a
# contract can price them once inventory reports them.
BILLED_RESOURCES: tuple[str, ...] = (
    "vcpu",
    "memory",
    "storage_performance",
    "storage_standard",
    "storage_archive",
)
CATALOG_ONLY: tuple[str, ...] = ("gpu", "physical_host", "bandwidth_mbps")
RESOURCES: tuple[str, ...] = BILLED_RESOURCES + CATALOG_ONLY
UNITS: dict[str, str] = {
    "vcpu": "vCPU-hour",
    "memory": "GB-hour",
    "storage_performance": "GB-hour",
    "storage_standard": "GB-hour",
    "storage_archive": "GB-hour",
    "gpu": "GPU-hour",
    "physical_host": "host-hour",
    "bandwidth_mbps": "Mbps-hour",
}

Price = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]
Ratio = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Ident = Annotated[str, Field(min_length=1, max_length=64)]


Issue = tuple[str, str, dict[str, Any], str]  # (path, kind, its figures, English reason)


class PolicyError(ValueError):
    """A policy file is unusable; ``errors`` holds ``path: reason`` strings (English) and
    ``issues`` the same as data — path, kind (pydantic's error type or a validator's
    reason id, the catalogue's ``validation.<kind>``), its figures and the English reason —
    so a reader gets them in its language (``cloudtally.i18n.validation.policy_lines``)."""

    def __init__(self, errors: list[str], issues: list[Issue] | None = None) -> None:
        self.errors = errors
        self.issues = issues or []
        super().__init__("; ".join(errors))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(_Strict):
    """Catalog list unit prices of one pool, CNY. Give each item per hour or per month."""

    vcpu_hour: Price | None = None
    vcpu_month: Price | None = None
    memory_hour: Price | None = None
    memory_month: Price | None = None
    storage_performance_hour: Price | None = None
    storage_performance_month: Price | None = None
    storage_standard_hour: Price | None = None
    storage_standard_month: Price | None = None
    storage_archive_hour: Price | None = None
    storage_archive_month: Price | None = None
    gpu_hour: Price | None = None
    gpu_month: Price | None = None
    physical_host_hour: Price | None = None
    physical_host_month: Price | None = None
    bandwidth_mbps_hour: Price | None = None
    bandwidth_mbps_month: Price | None = None

    @model_validator(mode="after")
    def _one_basis(self) -> Prices:
        for r in RESOURCES:
            if getattr(self, f"{r}_hour") is not None and getattr(self, f"{r}_month") is not None:
                raise BadValue(
                    f"@.{r}_month: give {r}_hour or {r}_month, not both",
                    "policy_both_bases",
                    hour=f"{r}_hour",
                    month=f"{r}_month",
                )
        for r in BILLED_RESOURCES:
            if getattr(self, f"{r}_hour") is None and getattr(self, f"{r}_month") is None:
                raise BadValue(
                    f"@.{r}_month: required (or {r}_hour)",
                    "policy_basis_required",
                    hour=f"{r}_hour",
                )
        return self

    def price(self, resource: str) -> tuple[Decimal, Literal["hour", "month"]] | None:
        """The stated price of a resource and whether it is per hour or per month."""
        hour = getattr(self, f"{resource}_hour")
        if hour is not None:
            return hour, "hour"
        month = getattr(self, f"{resource}_month")
        return (month, "month") if month is not None else None


_Identified = TypeVar("_Identified", bound="Pool | Provider")


def _unique_ids(items: list[_Identified]) -> list[_Identified]:
    """Reject a repeated id, naming the position of the repeat (``@[i].id``)."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            raise BadValue(
                f"@[{i}].id: {item.id!r} is duplicated", "policy_duplicated", value=repr(item.id)
            )
        seen.add(item.id)
    return items


class Pool(_Strict):
    id: Ident
    name: str = ""
    tender_discount: Ratio | None = Field(
        None, description="override of the provider's tender discount (fraction of list paid)"
    )
    prices: Prices


class VolumeTier(_Strict):
    above: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
    cut: Ratio


class VolumeTiers(_Strict):
    """Provider-level fee cut once its monthly volume passes a scale (contract 9.4–9.7).

    ``basis: amount`` compares the month's fee after line-level adjustments
    (CNY); ``basis: vcpu`` compares the month's average allocated vCPUs
    (vCPU-hours / hours in the month). ``mode: whole`` cuts the whole fee by
    the ratio of the highest tier reached; ``graduated`` cuts each slice above
    a boundary at that tier's ratio (for ``vcpu``, a slice's share of the fee
    is its share of the vCPUs).
    """

    basis: Literal["amount", "vcpu"] = "amount"
    mode: Literal["whole", "graduated"] = "whole"
    tiers: Annotated[list[VolumeTier], Field(min_length=1)]

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: list[VolumeTier]) -> list[VolumeTier]:
        for i in range(1, len(tiers)):
            if tiers[i].above <= tiers[i - 1].above:
                raise BadValue(
                    f"@[{i}].above: must be greater than "
                    f"tiers[{i - 1}].above ({tiers[i - 1].above})",
                    "policy_tier_order",
                    prev=i - 1,
                    above=tiers[i - 1].above,
                )
        return tiers


class LowUtilization(_Strict):
    """Unit-price cut for resources whose utilization stays below a threshold.

    ``basis: daytime_weighted`` weights each metered hour by its business-hours
    weight (the calendar section); ``all_hours`` weights every metered hour
    equally. Only metered hours count: a metering gap is no evidence either way.
    ``metric`` says whose utilization must be below ``threshold_pct``:
    ``cpu_and_mem`` (both), ``cpu_or_mem`` (either), ``cpu`` or ``mem``.
    The figure is evaluated per Asia/Shanghai ``day`` or calendar ``month``.
    """

    enabled: bool = True
    basis: Literal["daytime_weighted", "all_hours"] = "daytime_weighted"
    metric: Literal["cpu_and_mem", "cpu_or_mem", "cpu", "mem"] = "cpu_and_mem"
    threshold_pct: Annotated[Decimal, Field(gt=0, le=100, decimal_places=2)]
    period: Literal["day", "month"] = "month"
    price_cut: Ratio
    applies_to: Annotated[list[Literal["vcpu", "memory"]], Field(min_length=1)] = ["vcpu", "memory"]
    min_metered_hours: Annotated[int, Field(ge=1)] = 1


class Provider(_Strict):
    id: Ident
    name: str = ""
    tender_discount: Ratio = Field(description="fraction of the list price paid: 0.55 = pay 55 %")
    pools: Annotated[list[Pool], Field(min_length=1)]
    volume_tiers: VolumeTiers | None = None
    low_utilization: LowUtilization | None = Field(
        None, description="override of the version-level low-utilization clause"
    )

    @field_validator("pools")
    @classmethod
    def _unique_pools(cls, pools: list[Pool]) -> list[Pool]:
        return _unique_ids(pools)


class Version(_Strict):
    version: Ident
    effective_from: dt.date = Field(
        description="first day (00:00 in the policy timezone, inclusive) this version applies"
    )
    hours_per_month: Annotated[int, Field(ge=672, le=744)] = Field(
        720,
        description="hours a monthly price is spread over: 720 (30 days) bills a 365-day "
        "year as 8760/720 = 12.17 months, 730 (365 × 24 / 12) as exactly 12 months; "
        "docs/billing.md shows what each gives",
    )
    partial_hours: Literal["prorate", "started_hour"] = Field(
        "prorate",
        description="a VM created or deleted inside an hour: 'prorate' bills the share of "
        "the hour it existed, 'started_hour' bills every started hour in full",
    )
    bill_unmetered_hours: bool = True
    calendar: CalendarPolicy = CalendarPolicy()
    utilization: UtilizationPolicy = UtilizationPolicy()
    low_utilization: LowUtilization | None = None
    providers: Annotated[list[Provider], Field(min_length=1)]

    @field_validator("providers")
    @classmethod
    def _unique_providers(cls, providers: list[Provider]) -> list[Provider]:
        return _unique_ids(providers)

    def provider(self, provider_id: str) -> Provider | None:
        return next((p for p in self.providers if p.id == provider_id), None)

    def pool(self, provider_id: str, pool_id: str) -> Pool | None:
        prov = self.provider(provider_id)
        return None if prov is None else next((p for p in prov.pools if p.id == pool_id), None)


class Budget(_Strict):
    """Budget of one fiscal year: the programme total and optional per-bureau amounts."""

    fiscal_year: Annotated[int, Field(ge=2000, le=2100)]
    programme: Money
    bureaus: dict[str, Money] = Field(default_factory=dict)


class FiscalYear(_Strict):
    """When the billing year starts; named by the calendar year it ends in."""

    start_month: Annotated[int, Field(ge=1, le=12)] = 10
    label: Literal["end_year", "start_year"] = "end_year"


class Policy(_Strict):
    schema_: Literal["cloudtally.policy/1"] = Field(SCHEMA, alias="schema")
    name: Ident
    currency: Literal["CNY"] = "CNY"
    timezone: str = "Asia/Shanghai"
    fiscal_year: FiscalYear = FiscalYear()
    rounding: Literal["ROUND_HALF_UP 0.01 per line"] = "ROUND_HALF_UP 0.01 per line"
    budgets: list[Budget] = Field(default_factory=list)
    official_calendar: dict[Annotated[int, Field(ge=2000, le=2100)], OfficialYear] = Field(
        default_factory=dict,
        description="official working-day schedule per year (holidays and make-up working "
        "days 调休); replaces the shipped schedule of that year; a year neither knows is "
        "weighted by the weekday rule and flagged provisional",
    )
    versions: Annotated[list[Version], Field(min_length=1)]
    sla: list[SlaVersion] = Field(
        default_factory=list,
        description="service levels, versioned: availability targets, fault-handling "
        "limits, SLA credit rules (docs/availability.md)",
    )

    @field_validator("sla")
    @classmethod
    def _sla_ordered(cls, versions: list[SlaVersion]) -> list[SlaVersion]:
        return Sla(versions=versions).versions if versions else versions

    @cached_property
    def service_levels(self) -> Sla | None:
        """The ``sla`` versions with their lookup (None when the file states none)."""
        return Sla(versions=self.sla) if self.sla else None

    @field_validator("official_calendar")
    @classmethod
    def _years(cls, years: dict[int, OfficialYear]) -> dict[int, OfficialYear]:
        for year, schedule in years.items():
            schedule.check_year(year)
        return years

    @cached_property
    def official(self) -> OfficialCalendar:
        """The working-day schedule: this file's years over the shipped ones."""
        return OfficialCalendar(dict(self.official_calendar))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:
            raise BadValue(
                f"unknown timezone {value!r}", "policy_timezone", value=repr(value)
            ) from None
        return value

    @field_validator("versions")
    @classmethod
    def _ordered(cls, versions: list[Version]) -> list[Version]:
        names: set[str] = set()
        for i, v in enumerate(versions):
            if v.version in names:
                raise BadValue(
                    f"@[{i}].version: {v.version!r} is duplicated",
                    "policy_duplicated",
                    value=repr(v.version),
                )
            names.add(v.version)
            if i and v.effective_from <= versions[i - 1].effective_from:
                prev = versions[i - 1].effective_from
                raise BadValue(
                    f"@[{i}].effective_from: {v.effective_from} must be after "
                    f"versions[{i - 1}].effective_from {prev} (versions sorted, no overlap)",
                    "policy_version_order",
                    value=v.effective_from,
                    prev=i - 1,
                    prev_value=prev,
                )
        return versions

    @field_validator("budgets")
    @classmethod
    def _one_budget_per_year(cls, budgets: list[Budget]) -> list[Budget]:
        years = [b.fiscal_year for b in budgets]
        for i, y in enumerate(years):
            if y in years[:i]:
                raise BadValue(
                    f"@[{i}].fiscal_year: {y} is duplicated", "policy_duplicated", value=y
                )
        return budgets

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # ---- time ---------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def version_start(self, index: int) -> int:
        """UTC epoch second at which ``versions[index]`` starts applying."""
        d = self.versions[index].effective_from
        return int(dt.datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp())

    def boundaries(self) -> list[int]:
        """Start of every version as UTC epoch seconds, ascending."""
        return [self.version_start(i) for i in range(len(self.versions))]

    def version_index_at(self, instant: dt.datetime | int) -> int:
        ts = _epoch(instant)
        starts = self.boundaries()
        if ts < starts[0]:
            raise LookupError(
                f"no tariff version applies at {_iso(ts)}: the first starts "
                f"{self.versions[0].effective_from}"
            )
        return max(i for i, s in enumerate(starts) if s <= ts)

    def version_at(self, instant: dt.datetime | int) -> Version:
        """The version in force at an instant (aware datetime or epoch seconds)."""
        return self.versions[self.version_index_at(instant)]

    def versions_between(
        self, t0: dt.datetime | int, t1: dt.datetime | int
    ) -> list[tuple[Version, int, int]]:
        """Versions in force in [t0, t1) with the epoch sub-range each covers."""
        a, b = _epoch(t0), _epoch(t1)
        starts = [*self.boundaries(), 2**62]
        out = []
        for i, v in enumerate(self.versions):
            lo, hi = max(a, starts[i]), min(b, starts[i + 1])
            if lo < hi:
                out.append((v, lo, hi))
        return out

    def budget(self, fiscal_year: int) -> Budget | None:
        return next((b for b in self.budgets if b.fiscal_year == fiscal_year), None)

    def fiscal_year_of(self, day: dt.date) -> int:
        """Fiscal-year label of a local date (default: FY2023 = 2022-10-01..2023-09-30)."""
        start_year = day.year if day.month >= self.fiscal_year.start_month else day.year - 1
        if self.fiscal_year.start_month == 1:
            return day.year
        return start_year + 1 if self.fiscal_year.label == "end_year" else start_year

    def fiscal_year_range(self, fy: int) -> tuple[dt.date, dt.date]:
        """[first day, day after the last) of a fiscal year."""
        m = self.fiscal_year.start_month
        start_year = fy - 1 if (self.fiscal_year.label == "end_year" and m != 1) else fy
        start = dt.date(start_year, m, 1)
        return start, dt.date(start_year + 1, m, 1)


def _epoch(instant: dt.datetime | int) -> int:
    if isinstance(instant, dt.datetime):
        if instant.tzinfo is None:
            raise ValueError("naive datetime: attach a timezone")
        return int(instant.timestamp())
    return int(instant)


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


# ---- loading -----------------------------------------------------------------


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that keeps decimal numbers exact (0.55 stays Decimal('0.55'))."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except Exception:
        return float(loader.construct_yaml_float(node))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def parse_yaml(text: str) -> Any:
    """The raw document with exact decimals (for the pydantic model)."""
    try:
        return yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as exc:
        text = f"not valid YAML: {exc}"
        raise PolicyError(
            [f"(file): {text}"], [("(file)", "policy_not_yaml", {"error": exc}, text)]
        ) from None


def json_document(text: str) -> Any:
    """The document as JSON types (dates as ISO strings) for JSON Schema validation."""
    import json

    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _num(x: Any) -> Any:
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _reason(err: Any) -> str:
    kind = err["type"]
    ctx = {k: _num(v) for k, v in (err.get("ctx") or {}).items()}
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind == "decimal_max_places":
        return f"at most {ctx['decimal_places']} decimal places"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind in ("literal_error", "enum"):
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def _kind(err: Any) -> tuple[str, dict[str, Any]]:
    """An error's kind and figures: a BadValue's own id, else pydantic's type and ctx."""
    cause = (err.get("ctx") or {}).get("error")
    if err["type"] == "value_error" and isinstance(cause, BadValue) and cause.reason_id:
        return cause.reason_id, dict(cause.params)
    return err["type"], {k: _num(v) for k, v in (err.get("ctx") or {}).items()}


def _strip_model_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union/function tags (e.g. 'function-after[...]') from a location."""
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p and "]" in p))


def policy_from_document(doc: Any) -> Policy:
    """Validate a parsed document; errors say the exact field path and reason."""
    if not isinstance(doc, dict):
        text = "the policy must be a mapping"
        raise PolicyError([f"(file): {text}"], [("(file)", "policy_not_mapping", {}, text)])
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        errors, issues = [], []
        for e in exc.errors():
            where, reason = _path(_strip_model_path(e["loc"])), _reason(e)
            if reason.startswith("@"):  # a validator naming a sub-path: "@[1].id: reason"
                sub, _, reason = reason[1:].partition(": ")
                where = (where if where != "(file)" else "") + sub
            errors.append(f"{where}: {reason}")
            issues.append((where, *_kind(e), reason))
        raise PolicyError(errors, issues) from None


def load_policy(path_or_text: str | Path) -> Policy:
    """Load a policy from a file path or from YAML text; raise :class:`PolicyError`."""
    if isinstance(path_or_text, Path):
        text = path_or_text.read_text(encoding="utf-8")
    elif "\n" not in path_or_text and path_or_text.endswith((".yaml", ".yml")):
        text = Path(path_or_text).read_text(encoding="utf-8")
    else:
        text = path_or_text
    return policy_from_document(parse_yaml(text))


def json_schema() -> dict[str, Any]:
    """The JSON Schema generated from the model (committed as schemas/policy.schema.json)."""
    schema = Policy.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "cloudtally.policy/1"
    return schema
