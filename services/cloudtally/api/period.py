"""Helpers shared by the utilization and billing routes: the policy in force, periods
given as a month / fiscal year / day range, and the bureau rule for explicit filters."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import Depends, Request

from cloudtally.api.errors import ApiError
from cloudtally.core.access import Principal
from cloudtally.core.idle import month_start
from cloudtally.core.policy import Policy, PolicyError, Version
from cloudtally.core.statements import month_bounds
from cloudtally.policy import current_policy as load_current_policy

MAX_DAYS = 400  # a utilization period longer than this is a mistake, not a question


def current_policy(request: Request) -> Policy:
    """``settings.policy_file`` (reloaded when it changes) or the packaged example tariff."""
    try:
        return load_current_policy(request.app.state.settings.policy_file)
    except (OSError, PolicyError) as exc:
        raise ApiError(503, "error.policy_unusable", reason=exc) from None


PolicyDep = Annotated[Policy, Depends(current_policy)]


def local_today(policy: Policy) -> dt.date:
    return dt.datetime.now(policy.zone).date()


def version_for(policy: Policy, day: dt.date) -> Version:
    """The tariff version in force at the start of ``day`` (local); before the first
    version, the first one (utilization rules only — money never uses this fallback)."""
    at = dt.datetime(day.year, day.month, day.day, tzinfo=policy.zone)
    try:
        return policy.version_at(at)
    except LookupError:
        return policy.versions[0]


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)


def parse_month(value: str, name: str = "month") -> dt.date:
    m = _MONTH.match(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ApiError(422, "error.bad_month", name=name, value=value)
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def parse_quarter(value: str) -> tuple[dt.date, dt.date]:
    m = _QUARTER.match(value.strip())
    if not m:
        raise ApiError(422, "error.bad_quarter", value=value)
    first = dt.date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
    return first, month_start(first, -3)


def day_range(
    month: str | None,
    day_from: dt.date | None,
    day_to: dt.date | None,
    default: tuple[dt.date, dt.date],
    max_days: int = MAX_DAYS,
) -> tuple[dt.date, dt.date]:
    """[from, to) local days from ``month`` or ``day_from``/``day_to`` (exclusive end)."""
    if month is not None and (day_from is not None or day_to is not None):
        raise ApiError(422, "error.month_or_days")
    if month is not None:
        return month_bounds(parse_month(month))
    if day_from is None and day_to is None:
        return default
    if day_from is None or day_to is None:
        raise ApiError(422, "error.days_together")
    if day_to <= day_from:
        raise ApiError(422, "error.days_order", day_from=day_from, day_to=day_to)
    if (day_to - day_from).days > max_days:
        raise ApiError(422, "error.period_too_long", max_days=max_days)
    return day_from, day_to


def check_bureau(principal: Principal, bureau: str | None) -> None:
    """A bureau token naming another bureau is refused (403) rather than shown nothing,
    so staff never mistake 'forbidden' for 'no data'."""
    scope = principal.scope
    if scope is not None and bureau is not None and bureau != scope:
        raise ApiError(403, "error.own_bureau_only")
