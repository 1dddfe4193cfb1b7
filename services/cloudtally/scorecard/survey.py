"""Import a satisfaction survey file (CSV / XLSX) as the fiscal year's survey entry."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from cloudtally import metrics
from cloudtally.core.access import Principal
from cloudtally.core.scorecard.survey import SurveyError, parse_survey
from cloudtally.scorecard.entries import record
from cloudtally.store import Store
from cloudtally.tabular import TableError, read_table


def import_survey(
    store: Store,
    principal: Principal,
    path: Path,
    *,
    fiscal_year: int,
    provider: str = "",
    pool: str = "",
    basis: Literal["auto", "counts", "percent"] = "auto",
    comment: str = "",
    file_name: str | None = None,
) -> dict[str, Any]:
    """Parse the file whole, then record it; a refused file records nothing."""
    try:
        header, rows = read_table(path)
        parsed = parse_survey(header, rows, basis)
    except (TableError, SurveyError):
        metrics.SCORECARD_INPUTS.labels("survey", "rejected").inc()
        raise
    payload = {
        "answers": {a: str(v) for a, v in parsed.answers.items()}, "basis": parsed.basis,
        "layout": parsed.layout, "rows": parsed.rows, "file_name": file_name or path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }  # fmt: skip
    out = record(store, principal, fiscal_year=fiscal_year, subject="survey", payload=payload,
                 comment=comment or f"survey {file_name or path.name}", provider=provider,
                 pool=pool)  # fmt: skip
    metrics.SCORECARD_INPUTS.labels("survey", "recorded").inc()
    return out
