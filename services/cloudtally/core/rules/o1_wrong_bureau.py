"""O1: The line is billed to a bureau that did not own the VM in the line's period (metered
owner from the bill lines): who pays, not how much, so no money is counted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cloudtally.core.invoice import InvoiceLine, norm_key
from cloudtally.core.rules.base import Rule

RULE = Rule("O1", "wrong_bureau", "warning")  # name: catalogue rule.O1


def check(
    lines: Sequence[InvoiceLine], owners: Sequence[str]
) -> Iterator[tuple[InvoiceLine, dict[str, object], str]]:
    """Each line billed to a bureau not among ``owners`` (the metered owners of the VM in
    the line's period): the line, its evidence, its message id. Lines without a bureau and
    charges without a known owner say nothing."""
    if not owners:
        return
    known = {norm_key(o) for o in owners}
    for ln in lines:
        if not ln.bureau or norm_key(ln.bureau) in known:
            continue
        yield (
            ln,
            {
                "billed_bureau": ln.bureau,
                "metered_owner": ",".join(owners),
                "billed_amount": ln.amount,
            },
            "O1",
        )
