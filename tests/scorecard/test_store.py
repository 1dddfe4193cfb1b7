"""The scorecard from the store on both engines: the seed figures it can reproduce, the
manual entries with who/when in the ledger, and a survey file."""

from __future__ import annotations

import math
from decimal import Decimal as D
from pathlib import Path

import pytest

from cloudtally.audit import ledger
from cloudtally.core.access import Principal
from cloudtally.core.scorecard.scheme import load_scheme
from cloudtally.core.scorecard.survey import SurveyError
from cloudtally.scorecard import entries
from cloudtally.scorecard.gather import build
from cloudtally.scorecard.survey import import_survey
from cloudtally.store import Store
from tests.scorecard.test_core import SCHEME_FILE
from tests.scorecard.zhongshan import plant_round, plant_utilization, policy

ADMIN = Principal("buyer-zhang", "admin")
AUDITOR = Principal("auditor", "auditor")
SCHEME = load_scheme(SCHEME_FILE)


def lines(store: Store) -> dict[str, object]:
    card = build(store, policy(), SCHEME, 2022, "cetc", "pool-1")
    return {ln.indicator.code: ln for ln in card.lines} | {"_card": card}


def test_seed_figures_from_the_store(store: Store, tmp_path: Path) -> None:
    pol = policy()
    plant_utilization(store, pol)
    plant_round(store)
    by = lines(store)
    pu, cs = by["pool_utilization"].result, by["cloud_storage_utilization"].result  # type: ignore[attr-defined]
    assert (pu.figure, pu.points, cs.points) == (D("58.6"), 0, 8)
    up = by["unit_price_trend"].result  # type: ignore[attr-defined]
    assert (up.figure, up.points) == (D(2), 2)
    ir = by["idle_reclaim"].result  # type: ignore[attr-defined]
    assert ir.points == 2 and [e["vm_id"] for e in ir.evidence if not e["in_time"]] == ["idle-2"]
    # budget: the policy's programme budget is what is available; nothing paid yet → no data
    assert by["budget_execution"].result.status == "no_data"  # type: ignore[attr-defined]
    entries.record(store, ADMIN, fiscal_year=2022, subject="budget",
                   payload=entries.check_budget({"paid": "58230000.00",
                                                 "reduced_to_other": "21450000"}),
                   comment="财政局拨付记录")  # fmt: skip
    survey = tmp_path / "满意度.csv"
    survey.write_text("答案,数量\n非常满意,20\n比较满意,8\n一般,2\n不满意,0\n", encoding="utf-8")
    import_survey(store, ADMIN, survey, fiscal_year=2022)
    entries.enter_points(store, ADMIN, SCHEME.version_for(2022), fiscal_year=2022,
                         code="basis_sufficiency", points="2", comment="立项批复齐全")  # fmt: skip
    by = lines(store)
    be = by["budget_execution"].result  # type: ignore[attr-defined]
    assert (be.figure, be.points) == (D(100), 2)
    assert by["budget_adjustment"].result.points == 0  # type: ignore[attr-defined]  # 36.8 %
    sat = by["satisfaction"].result  # type: ignore[attr-defined]
    # (20×100 + 8×80 + 2×60) / 30 = 92 % → 6 of 6
    assert (sat.figure, sat.points) == (D(92), 6)
    manual = by["basis_sufficiency"]
    assert manual.result.status == "entered" and manual.entry.entered_by == "buyer-zhang"  # type: ignore[attr-defined]
    card = by["_card"]
    # 0 + 8 + 2 (price) + 2 (reclaim) + 2 (budget) + 0 + 6 (survey) + 2 (entered) = 22
    assert card.total == 22 and card.grade.grade == "差" and not card.complete  # type: ignore[attr-defined]
    kinds = [(e.kind, e.actor, e.subject.get("table")) for e in ledger.entries(store)]
    assert kinds.count(("rows", "buyer-zhang", "scorecard_entries")) == 3
    assert ledger.verify(store).ok


def test_entries_refused(store: Store, tmp_path: Path) -> None:
    v = SCHEME.version_for(2022)
    with pytest.raises(entries.EntryError, match="between 0 and 2"):
        entries.enter_points(store, ADMIN, v, fiscal_year=2022, code="basis_sufficiency",
                             points="2.5", comment="x")  # fmt: skip
    with pytest.raises(entries.EntryError, match="no indicator"):
        entries.enter_points(store, ADMIN, v, fiscal_year=2022, code="nope", points="1",
                             comment="x")  # fmt: skip
    with pytest.raises(entries.EntryError, match="admin"):
        entries.enter_points(store, AUDITOR, v, fiscal_year=2022, code="basis_sufficiency",
                             points="1", comment="x")  # fmt: skip
    bad = tmp_path / "s.csv"
    bad.write_text("答案,数量\n非常满意,20\n还行,3\n一般,-1\n", encoding="utf-8")
    with pytest.raises(SurveyError) as exc:
        import_survey(store, ADMIN, bad, fiscal_year=2022)
    assert exc.value.problems == ["row 3: unknown answer '还行'",
                                  "row 4: not a number ≥ 0: '-1'"]  # fmt: skip
    assert entries.history(store, 2022) == []  # nothing recorded


def test_more_specific_entry_wins(store: Store) -> None:
    v = SCHEME.version_for(2022)
    entries.enter_points(store, ADMIN, v, fiscal_year=2022, code="target_clarity", points="3",
                         comment="programme-wide")  # fmt: skip
    entries.enter_points(store, ADMIN, v, fiscal_year=2022, code="target_clarity", points="2.5",
                         comment="pool 1", provider="cetc", pool="pool-1")  # fmt: skip
    entries.enter_points(store, ADMIN, v, fiscal_year=2022, code="target_clarity", points="4",
                         comment="programme again, later")  # fmt: skip
    assert lines(store)["target_clarity"].result.points == D("2.5")  # type: ignore[attr-defined]
    other = build(store, policy(), SCHEME, 2022, "cetc", "pool-9")
    assert {ln.indicator.code: ln for ln in other.lines}["target_clarity"].result.points == 4


def test_availability_from_the_meter(store: Store) -> None:
    """The availability indicator is the meter's figure for the pool (the availability
    helper's planted fleet: vm-a down 75 min across a month boundary, vm-b up)."""
    from cloudtally.core.policy import load_policy
    from cloudtally.core.scorecard.inputs import Availability
    from cloudtally.evaluation.availability import Scope, fiscal_year_span, report
    from cloudtally.policy import example_policy_text
    from tests.evaluation.fleet import plant

    plant(store)
    pol = load_policy(example_policy_text())
    card = build(store, pol, SCHEME, 2023, "provider-a", "pool-1")
    ra = {ln.indicator.code: ln for ln in card.lines}["resource_availability"].result
    start, end = fiscal_year_span(pol, 2023)
    doc = report(store, pol, Scope(start, end, pool="pool-1", provider="provider-a"))
    (whole,) = doc["period"]
    assert ra.status == "measured" and ra.figure == whole["availability_pct"]
    assert ra.figure < D("99.95")
    steps = math.ceil(D("99.95") - ra.figure)  # every started point below the target
    assert steps == 1 and ra.points == D("0.5")
    incidents = ra.evidence[0]["incidents"]  # split at the month boundary, 75 min in all
    assert {i["vm_id"] for i in incidents} == {"vm-a"}
    assert sum(i["duration_s"] for i in incidents) == 75 * 60
    assert isinstance(Availability(None).minutes_down, D)


def test_fault_handling_from_imported_reports(store: Store, tmp_path: Path) -> None:
    """The availability helper's planted fault report: F-1 on site 5 min late, F-2's
    analysis report never delivered, F-3 on time → 2 late faults → 1 of 3."""
    from cloudtally.core.policy import load_policy
    from cloudtally.evaluation.faults import import_file
    from cloudtally.policy import example_policy_text
    from tests.evaluation.fleet import plant
    from tests.evaluation.test_fault_reports import write_xlsx

    pol = load_policy(example_policy_text())
    card = build(store, pol, SCHEME, 2023, "provider-a", "pool-1")
    none = {ln.indicator.code: ln for ln in card.lines}["fault_timeliness"].result
    assert (none.status, none.points) == ("no_data", 0)
    plant(store)
    write_xlsx(tmp_path / "故障处理报告.xlsx")
    import_file(store, pol, tmp_path / "故障处理报告.xlsx", provider="provider-a")
    card = build(store, pol, SCHEME, 2023, "provider-a", "pool-1")
    ft = {ln.indicator.code: ln for ln in card.lines}["fault_timeliness"].result
    late = {e["fault_id"]: e["breaches"] for e in ft.evidence if e["breaches"]}
    assert late == {"F-1": ["on_site"], "F-2": ["report"]}
    assert (ft.status, ft.points) == ("measured", 1)
    other = build(store, pol, SCHEME, 2023, "provider-b", "pool-3")
    assert {ln.indicator.code: ln for ln in other.lines}["fault_timeliness"].result.points == 0
