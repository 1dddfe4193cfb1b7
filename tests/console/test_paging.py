"""Province-wide tables: the biggest rows shown, the rest counted and summed exactly."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.console.paging import top_rows


def test_top_rows_add_up_to_the_total() -> None:
    rows = [{"system": f"s{i}", "after_cut": Decimal(f"{i}.01")} for i in range(1000)]
    rows.append({"system": "unrated", "after_cut": None})
    top = top_rows(rows, 15, "after_cut")
    assert [r["system"] for r in top.rows[:2]] == ["s999", "s998"] and len(top.rows) == 15
    assert (top.rest, top.total_rows) == (986, 1001)
    shown = sum(r["after_cut"] for r in top.rows)
    assert shown + top.rest_amount == sum(r["after_cut"] or 0 for r in rows)
    everything = top_rows(rows, 15, "after_cut", show_all=True)
    assert (len(everything.rows), everything.rest, everything.rest_amount) == (1001, 0, 0)
