"""The console's page figures, kept until the rows they are read from change.

Why: at Hainan scale (15,000 VMs, 1,000 systems) a page ran five to ten store queries on
every request — the statement, the budget, the costliest VMs, the VM count, the last
billed day — each 20–100 ms on two shared cores, although the rows behind them change
only when a rating run, a close or an import writes them. A page now asks :func:`page`
for its figures under a key (the page, its parameters, the reader's scope, role and
language, the policy in force) and a *stamp* made of the stamps of exactly the tables it
reads (:mod:`cloudtally.queries.memo`): unchanged rows cost no store query at all, a
changed row recomputes. Bureau scope is part of the key: one bureau's figures are never
shown to another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cloudtally.queries import memo

T = TypeVar("T")


def page(
    ctx: Any, name: str, args: tuple[Any, ...], stamp: Hashable, compute: Callable[[], T]
) -> T:
    """``compute()`` for this reader, kept while ``stamp`` stays the same."""
    key = ("console_page", name, args, ctx.scope, ctx.principal.can_read_all, ctx.lang,
           id(ctx.policy()))  # fmt: skip
    return memo.cached(ctx.store, key, stamp, compute)


def billing(ctx: Any, d0: dt.date, d1: dt.date) -> Hashable:
    """The bills of local days [d0, d1): per-VM totals, provider-level lines, the ledger
    (every close, restatement and re-rate appends to it)."""
    from cloudtally.api.freshness import billing_stamp

    return billing_stamp(ctx.store, d0, d1)


def table(ctx: Any, name: str, where: str = "1", params: dict[str, Any] | None = None,
          column: str = "version") -> Hashable:  # fmt: skip
    """The rows of ``name`` matching ``where``: changes with them."""
    return memo.stamp(ctx.store, name, where, params or {}, column)


def inventory(ctx: Any) -> Hashable:
    return table(ctx, "vm_inventory")


def last_billed_day(ctx: Any, bureau: str | None) -> dt.date | None:
    """The latest day with current bill lines (the console's 'today' of the data)."""
    from cloudtally.billing import drill

    return page(ctx, "last_billed_day", (bureau,), table(ctx, "bill_totals"),
                lambda: drill.last_billed_day(ctx.store, bureau=bureau))  # fmt: skip
