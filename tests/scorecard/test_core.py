"""The scorecard's rules, pure: each seed figure, and every band edge exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest

from cloudtally.core.policy import PolicyError
from cloudtally.core.scorecard import (
    budget_adjustment,
    budget_execution,
    cloud_storage_utilization,
    fault_timeliness,
    idle_reclaim,
    pool_utilization,
    resource_availability,
    satisfaction,
    unit_price_trend,
)
from cloudtally.core.scorecard.card import grade_of, scorecard
from cloudtally.core.scorecard.inputs import (
    Availability,
    BudgetFigures,
    Entry,
    FaultCheck,
    Faults,
    MonthUtilization,
    ReclaimCandidate,
    Rounds,
    ScorecardInputs,
    Survey,
    TariffPoint,
)
from cloudtally.core.scorecard.scheme import load_scheme
from cloudtally.devtools.scorecard_sample import sample_card, write

SCHEME_FILE = Path(__file__).parents[2] / "services/cloudtally/policy/scorecard.yaml"
SCHEME = load_scheme(SCHEME_FILE).version_for(2022)


def inputs(**kw: object) -> ScorecardInputs:
    return ScorecardInputs(fiscal_year=2022, provider="cetc", pool="pool-1", **kw)  # type: ignore[arg-type]


def month(m: int, cpu: str | None, mem: str | None, st: str | None) -> MonthUtilization:
    f = lambda v: None if v is None else D(v)  # noqa: E731
    return MonthUtilization(dt.date(2022, m, 1), f(cpu), f(mem), f(st))


def test_seed_pool_1_utilization() -> None:
    i = inputs(months=(month(11, "70", "70", "70"), month(12, "47.4", "64.6", "63.8")))
    two = pool_utilization.evaluate(pool_utilization.Params(), D(2), i)
    assert (two.figure, two.points, two.status) == (D("58.6"), D(0), "measured")
    one_month = inputs(months=(month(12, "47.4", "64.6", "63.8"),))
    ten = cloud_storage_utilization.evaluate(cloud_storage_utilization.Params(), D(10), one_month)
    assert (ten.figure, ten.points) == (D("58.6"), D(8))
    # the year basis averages the months: (70 + 58.6) / 2 = 64.3 → 9 of 10
    assert cloud_storage_utilization.evaluate(
        cloud_storage_utilization.Params(), D(10), i
    ).points == D(9)


@pytest.mark.parametrize(
    ("pct", "two", "ten"),
    [("65", 2, 9), ("64.99", 1, 9), ("60", 1, 9), ("59.99", 0, 8), ("70", 2, 10),
     ("69.999", 2, 9), ("20", 0, 5), ("19.99", 0, 0), ("0", 0, 0)],
)  # fmt: skip
def test_utilization_band_edges(pct: str, two: int, ten: int) -> None:
    i = inputs(months=(month(12, pct, pct, pct),))
    assert pool_utilization.evaluate(pool_utilization.Params(), D(2), i).points == two
    assert (
        cloud_storage_utilization.evaluate(cloud_storage_utilization.Params(), D(10), i).points
        == ten
    )


def test_utilization_without_evidence_is_lowest_band() -> None:
    i = inputs(months=(month(12, "90", None, "90"),))
    r = cloud_storage_utilization.evaluate(cloud_storage_utilization.Params(), D(10), i)
    assert (r.status, r.points, r.figure) == ("no_data", D(0), None)
    assert pool_utilization.evaluate(pool_utilization.Params(), D(2), inputs()).points == 0


def tariff(version: str, day: dt.date, factor: str) -> TariffPoint:
    base = {"vcpu": D("0.0229"), "memory": D("0.01145"), "storage_standard": D("0.000458")}
    return TariffPoint(version, day, {k: v * D(factor) for k, v in base.items()})


@pytest.mark.parametrize(
    ("factor", "points"),
    [("0.98", 2), ("0.9801", 1), ("0.99", 1), ("0.9901", 0), ("1", 0), ("1.05", 0), ("0.5", 2)],
)
def test_unit_price_trend_edges(factor: str, points: int) -> None:
    i = inputs(tariff_start=tariff("2022.1", dt.date(2021, 1, 1), "1"),
               tariff_end=tariff("2022.2", dt.date(2022, 7, 1), factor))  # fmt: skip
    r = unit_price_trend.evaluate(unit_price_trend.Params(), D(2), i)
    assert r.points == points and r.status == "measured"
    assert r.figure == (1 - D(factor)) * 100


def test_unit_price_trend_without_evidence() -> None:
    only_end = inputs(tariff_end=tariff("v", dt.date(2022, 7, 1), "0.9"))
    assert unit_price_trend.evaluate(unit_price_trend.Params(), D(2), only_end).status == "no_data"
    unpriced = TariffPoint("v0", dt.date(2021, 1, 1), {"vcpu": D(1)})
    i = inputs(tariff_start=unpriced, tariff_end=tariff("v", dt.date(2022, 7, 1), "0.9"))
    assert unit_price_trend.evaluate(unit_price_trend.Params(), D(2), i).points == 0


def cand(vm: str, found: dt.date, reclaimed: dt.date | None, decision: str = "accepted"):
    return ReclaimCandidate(vm, "edu", "R1", found, decision, reclaimed)


def test_idle_reclaim_deducts_one_per_miss() -> None:
    f = dt.date(2022, 3, 1)
    p = idle_reclaim.Params(within_days=30)
    cands = (cand("a", f, f + dt.timedelta(days=30)), cand("b", f, f + dt.timedelta(days=31)),
             cand("c", f, None, "declined"))  # fmt: skip
    r = idle_reclaim.evaluate(p, D(3), inputs(rounds=Rounds(1, cands)))
    assert r.points == 1 and [e["in_time"] for e in r.evidence] == [True, False, False]
    many = tuple(cand(f"v{n}", f, None) for n in range(5))
    assert idle_reclaim.evaluate(p, D(3), inputs(rounds=Rounds(2, many))).points == 0
    assert idle_reclaim.evaluate(p, D(3), inputs(rounds=Rounds(1, ()))).points == 3
    none = idle_reclaim.evaluate(p, D(3), inputs())
    assert (none.status, none.points) == ("no_data", 0)


def test_budget_execution_seed_and_edges() -> None:
    p = budget_execution.Params()
    seed = BudgetFigures(approved=D("58230000"), available=D("58230000"), paid=D("58230000"))
    assert budget_execution.evaluate(p, D(2), inputs(budget=seed)).points == 2
    half = BudgetFigures(available=D(3), paid=D(2))  # 66.666…% → 1.3333 (cut, not 1.3334)
    assert budget_execution.evaluate(p, D(2), inputs(budget=half)).points == D("1.3333")
    over = BudgetFigures(available=D(100), paid=D(120))
    assert budget_execution.evaluate(p, D(2), inputs(budget=over)).points == 2
    assert budget_execution.evaluate(p, D(2), inputs()).status == "no_data"


@pytest.mark.parametrize(
    ("moved", "points"),
    [("10", "3"), ("10.01", "2.5"), ("15", "2.5"), ("20", "2"), ("25", "1.5"), ("30", "1"),
     ("30.01", "0"), ("0", "3")],
)  # fmt: skip
def test_budget_adjustment_bands(moved: str, points: str) -> None:
    b = BudgetFigures(approved=D(100), reduced_to_other=D(moved), recovered=D(0))
    r = budget_adjustment.evaluate(budget_adjustment.Params(), D(3), inputs(budget=b))
    assert r.points == D(points)


def test_budget_adjustment_seed_figure() -> None:
    # 2145万 of 5823万 went to the previous year's arrears: 36.84 % → 0 by the bands
    b = BudgetFigures(approved=D("5823"), reduced_to_other=D("2145"))
    r = budget_adjustment.evaluate(budget_adjustment.Params(), D(3), inputs(budget=b))
    assert r.points == 0 and str(r.figure).startswith("36.83")


def survey(v: str, f: str, n: str, d: str, basis: str = "counts") -> Survey:
    keys = ("very_satisfied", "fairly_satisfied", "neutral", "dissatisfied")
    return Survey(dict(zip(keys, map(D, (v, f, n, d)), strict=True)), basis)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answers", "rate", "points"),
    [
        (("50", "50", "0", "0"), "90", "6"),  # exactly 90 % → 6
        (("100", "0", "0", "0"), "100", "6"),
        (("0", "0", "100", "0"), "60", "0"),  # exactly 60 % → (60−60)/30×6 = 0
        (("25", "25", "25", "25"), "60", "0"),
        (("0", "50", "50", "0"), "70", "2"),  # (70−60)/30×6 = 2
        (("10", "20", "0", "0"), "86.66666666666666666666666667", "5.3333"),
        (("0", "0", "90", "10"), "54", "0"),
    ],
)
def test_satisfaction_formula(answers: tuple[str, ...], rate: str, points: str) -> None:
    r = satisfaction.evaluate(satisfaction.Params(), D(6), inputs(survey=survey(*answers)))
    assert r.figure == D(rate) and r.points == D(points)


def test_satisfaction_percentages_not_adding_to_100() -> None:
    counts = survey("20", "10", "0", "0")
    pct = survey("66.7", "33.3", "0", "0", "percent")  # a report's rounded percentages
    a = satisfaction.evaluate(satisfaction.Params(), D(6), inputs(survey=counts))
    b = satisfaction.evaluate(satisfaction.Params(), D(6), inputs(survey=pct))
    assert a.points == b.points == 6
    assert satisfaction.evaluate(satisfaction.Params(), D(6), inputs()).status == "no_data"


@pytest.mark.parametrize(
    ("pct", "points"), [("99.95", "1"), ("99.96", "1"), ("99.94", "0.5"), ("98.95", "0.5"),
                        ("98.94", "0"), ("90", "0")],
)  # fmt: skip
def test_resource_availability_steps(pct: str, points: str) -> None:
    i = inputs(availability={"compute": Availability(D(pct))})
    r = resource_availability.evaluate(resource_availability.Params(), D(1), i)
    assert r.points == D(points)
    assert (
        resource_availability.evaluate(resource_availability.Params(), D(1), inputs()).status
        == "no_data"
    )


def test_fault_timeliness() -> None:
    on_time = [FaultCheck(f"F{n}", "major", ()) for n in range(5)]
    checks = (*on_time, FaultCheck("F9", "major", ("resolved", "report")))
    r = fault_timeliness.evaluate(fault_timeliness.Params(), D(3), inputs(faults=Faults(checks)))
    assert r.points == 2  # the seed: one of six level-3 faults over time → 2 of 3
    late = tuple(FaultCheck(f"F{n}", "major", ("on_site",)) for n in range(4))
    assert (
        fault_timeliness.evaluate(
            fault_timeliness.Params(), D(3), inputs(faults=Faults(late))
        ).points
        == 0
    )
    assert fault_timeliness.evaluate(fault_timeliness.Params(), D(3), inputs()).points == 0


@pytest.mark.parametrize(
    ("total", "grade"),
    [("100", "优"), ("90.00", "优"), ("89.995", "良"), ("89.9999", "良"), ("80", "良"),
     ("79.99", "中"), ("60", "中"), ("59.9999", "差"), ("0", "差"), ("-5", "差")],
)  # fmt: skip
def test_grade_edges(total: str, grade: str) -> None:
    assert grade_of(D(total), SCHEME.grades).grade == grade


def entry(points: str, comment: str = "依据立项批复") -> Entry:
    return Entry(D(points), comment, "admin", "2023-09-01T00:00:00Z")


def test_whole_card_seed_003_totals_78() -> None:
    """Seed 003's own points entered where they need documents or judgement, measured where
    they can be: the card adds to the seed's 78.00 and grades it 中 (docs/samples)."""
    card = sample_card()
    by = {ln.indicator.code: ln for ln in card.lines}
    assert by["pool_utilization"].result.points == 0  # 58.6 % measured
    assert by["cloud_storage_utilization"].result.points == 8
    assert by["unit_price_trend"].result.points == 2
    assert by["budget_execution"].result.points == 2
    assert by["idle_reclaim"].result.points == 3
    assert by["resource_availability"].result.points == 1
    assert by["fault_timeliness"].result.points == 2  # one of six faults late
    adj = by["budget_adjustment"]  # measured 0, the evaluators' 1.5 entered as adjustment
    assert (adj.result.status, adj.rule_points, adj.result.points) == ("adjusted", 0, D("1.5"))
    assert by["satisfaction"].rule_points == 6 and by["satisfaction"].result.points == D("4.5")
    assert card.total == D(78) and card.grade.grade == "中" and card.complete


def test_committed_sample_is_current(tmp_path: Path) -> None:
    """docs/samples is what the generator writes today (regenerate it when this fails)."""
    write(tmp_path)
    docs = SCHEME_FILE.parents[3] / "docs/samples"
    for name in ("scorecard-2022-pool-1.html", "scorecard-2022-pool-1.json"):
        assert (docs / name).read_text(encoding="utf-8") == (tmp_path / name).read_text(
            encoding="utf-8"
        ), f"{name}: run python -m cloudtally.devtools.scorecard_sample docs/samples"


def test_manual_indicator_missing_and_clamped() -> None:
    card = scorecard(SCHEME, inputs(entries={"target_clarity": entry("9"),
                                             "self_evaluation": entry("-30")}))  # fmt: skip
    by = {ln.indicator.code: ln for ln in card.lines}
    assert by["target_clarity"].result.points == 4  # at most the weight
    assert by["self_evaluation"].result.points == -10
    assert by["basis_sufficiency"].result.status == "missing" and not card.complete


def test_scheme_rejects_bad_rules() -> None:
    bad = SCHEME_FILE.read_text(encoding="utf-8").replace("within_days: 30", "within_days: 0")
    with pytest.raises(PolicyError, match="within_days"):
        load_scheme(bad)
    with pytest.raises(PolicyError, match="unknown measure"):
        load_scheme(SCHEME_FILE.read_text(encoding="utf-8").replace(
            "measure: satisfaction", "measure: happiness"))  # fmt: skip


def test_survey_layouts_and_refusals() -> None:
    from cloudtally.core.scorecard.survey import SurveyError, parse_survey

    rows = [(2, ["教育局", "3", "1", "0", "0"]), (3, ["卫健委", "1", "1", "1", ""])]
    wide = parse_survey(["单位", "非常满意", "满意", "基本满意", "非常不满意"], rows)
    assert (wide.layout, wide.basis) == ("wide", "counts")
    assert wide.answers == {"very_satisfied": 4, "fairly_satisfied": 2, "neutral": 1,
                            "dissatisfied": 0}  # fmt: skip
    long = parse_survey(["Answer", "Percent"], [(2, ["Very satisfied", "96.97"]),
                                                (3, ["neutral", "3.03"])])  # fmt: skip
    assert (long.layout, long.basis) == ("long", "percent")
    with pytest.raises(SurveyError) as exc:
        parse_survey(["单位", "非常满意", "一般"], [(2, ["a", "x", "1"]), (3, ["b", "1", "-2"])])
    assert exc.value.problems == ["row 2, column '非常满意': not a number: 'x'",
                                  "row 3, column '一般': not a number ≥ 0: '-2'"]  # fmt: skip
    with pytest.raises(SurveyError, match="no answer column"):
        parse_survey(["name", "score"], [(2, ["a", "90"])])
    with pytest.raises(SurveyError, match="no answer"):
        parse_survey(["答案", "数量"], [(2, ["非常满意", "0"])])
