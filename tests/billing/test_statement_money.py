"""Statement money has two decimals in every output (JSON, CSV, XLSX, CLI table)."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

from openpyxl import load_workbook

from cloudtally.api.responses import ExactJSONResponse
from cloudtally.billing import statements as st
from cloudtally.policy import configured_policy

MONTH = dt.date(2023, 10, 1)


def plant_tier_line(store, amount: str) -> None:
    store.insert(
        "statement_lines",
        {
            "month": [MONTH], "fiscal_year": [2024], "provider": ["provider-a"],
            "kind": ["volume_tier"], "status": ["provisional"], "tariff_version": ["2023.2"],
            "basis": ["amount"], "mode": ["whole"], "basis_value": [Decimal("45.00")],
            "fee": [Decimal("45.00")], "amount": [Decimal(amount)], "details": ["{}"],
            "run_id": ["t"], "computed_at": [0], "version": [1],
        },
    )  # fmt: skip


def test_a_tier_amount_of_minus_ninety_fen_prints_two_decimals(store) -> None:
    plant_tier_line(store, "-0.90")
    s = st.statement(store, configured_policy(None), month=MONTH)
    assert [str(a["amount"]) for a in s.adjustments] == ["-0.90"]
    assert str(s.total) == "-0.90" and str(s.adjustments[0]["fee"]) == "45.00"
    keys, body = st.statement_table(s)
    csv_text = st.to_csv(keys, body)
    assert "-0.90" in csv_text and ",-0.9\r" not in csv_text
    assert json.loads(ExactJSONResponse({"a": s.adjustments[0]["amount"]}).body)["a"] in (
        "-0.90",
        -0.90,
    )
    assert b"-0.90" in ExactJSONResponse({"a": s.adjustments[0]["amount"]}).body
    buf = io.BytesIO()
    st.to_xlsx(keys, body, buf)
    ws = load_workbook(io.BytesIO(buf.getvalue())).active
    amounts = [row[4] for row in ws.iter_rows(min_row=2) if row[4].value not in ("", None)]
    assert amounts and all(c.number_format == "0.00" for c in amounts)
