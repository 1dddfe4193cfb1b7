"""Write docs/samples/scorecard-2022-pool-1.{html,xlsx,json}: seed 003's evaluation of
pool 1 reproduced by the scorecard (78.00, 中).

Measured indicators get the seed's own figures as inputs (December 2022 utilization
47.4 / 64.6 / 63.8 %, a 2 % price cut, 5823万 paid of 5823万, 2145万 moved to the previous
year's arrears, a survey, availability 99.96 %, two idle VMs reclaimed in time, six faults of which
one was resolved late); the
indicators that need documents get the evaluators' points as manual entries, and so do
the seed's two discretionary judgements (预算调整率 1.5, 满意率 4.5) as adjustments.

    python -m cloudtally.devtools.scorecard_sample [docs/samples]
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal as D
from pathlib import Path

from cloudtally.core.scorecard.card import Scorecard, scorecard
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
from cloudtally.policy import scorecard_scheme
from cloudtally.scorecard.report import card_html, card_json, card_xlsx

# The evaluators' points (seed 003, 附件) for what needs documents or judgement.
SEED_003_ENTRIES = {
    "basis_sufficiency": ("2", ""), "approval_procedure": ("2", ""),
    "target_clarity": ("2.5", "部分绩效指标设置不够合理；部分绩效指标值过低"),
    "budget_soundness": ("4.5", "单价测算不合理；CPU使用率不高但占用过多；扩容测算依据不科学"),
    "budget_adjustment": ("1.5", "2145万元用于支付2021年度欠款，相当于调至其他项目，酌情扣1.5分"),
    "funds_compliance": ("4.5", "存在类似“超范围”支出的情况"),
    "rules_in_place": ("3", "业务监督检查管理制度不够健全"),
    "rules_followed": ("3", "部分巡检材料内容不完整"),
    "implementation_regularity": ("6.5", "监理专业性有待提高；云纳管平台友好性亟待提高"),
    "supervision": ("2", "监管机制尚未建立；缺失对平台计费监管"),
    "hardware_compliance": ("1", ""), "onsite_staff": ("1", ""), "staff_qualification": ("1", ""),
    "records_kept": ("1", ""), "sla_assessment": ("1", ""),
    "final_acceptance": ("0.5", "登记的问题未提供解决佐证材料"), "service_delivery": ("1", ""),
    "normal_operation": ("1", ""), "security_protection": ("1", ""),
    "completion_timeliness": ("2", ""),
    "data_governance": ("4.5", "平台数据统筹、采集并没有实现统一管理和共享"),
    "data_support": ("2", "数据还不能够满足跨部门、跨层级数据综合分析需求"),
    "power_endurance": ("1", ""), "backup_service": ("2", ""), "data_sharing": ("5", ""),
    "satisfaction": ("4.5", "问卷代表性不足，回收单位数未超过总单位数的1/3"),
    "self_evaluation": ("-1", "未在规定时间内完成自评；佐证材料不够充分"),
    "negative_events": ("0", "没有发现项目负面问题"),
}  # fmt: skip
AT = "2023-09-01T00:00:00Z"


def seed_003_inputs() -> ScorecardInputs:
    day = dt.date(2022, 3, 1)
    prices = {"vcpu": D("0.0229"), "memory": D("0.01145"), "storage_standard": D("0.000458")}
    entries = {
        code: Entry(D(points), comment or "材料齐全，符合评分标准", "buyer", AT, "seed 003 附件")
        for code, (points, comment) in SEED_003_ENTRIES.items()
    }
    return ScorecardInputs(
        fiscal_year=2022, provider="cetc", pool="pool-1",
        months=(MonthUtilization(dt.date(2022, 12, 1), D("47.4"), D("64.6"), D("63.8")),),
        tariff_start=TariffPoint("2021.1", dt.date(2021, 1, 1), prices),
        tariff_end=TariffPoint("2022.1", dt.date(2022, 7, 1),
                               {k: v * D("0.98") for k, v in prices.items()}),
        rounds=Rounds(1, (
            ReclaimCandidate("vm-portal-07", "教育局", "R20220301", day, "accepted",
                             day + dt.timedelta(days=12)),
            ReclaimCandidate("vm-archive-2", "市场监管局", "R20220301", day, "accepted",
                             day + dt.timedelta(days=20)),
        )),
        budget=BudgetFigures(approved=D("58230000"), available=D("58230000"),
                             paid=D("58230000"), reduced_to_other=D("21450000"),
                             source="财政拨付记录（示例）"),
        survey=Survey({"very_satisfied": D(20), "fairly_satisfied": D(8), "neutral": D(2),
                       "dissatisfied": D(0)}, "counts", "满意度调查（示例，30份）"),
        faults=Faults(
            (*(FaultCheck(f"F-{n}", "三级", ()) for n in range(1, 6)),
             FaultCheck("F-6", "三级", ("resolved",))),
            "本年度共发生6次三级故障，其中一次故障处理时间超时（示例）",
        ),
        availability={"compute": Availability(D("99.96"), D("210"), (), "计量（示例）")},
        entries=entries,
    )  # fmt: skip


def sample_card() -> Scorecard:
    return scorecard(scorecard_scheme(None).version_for(2022), seed_003_inputs())


def write(folder: Path) -> list[Path]:
    doc = card_json(sample_card())
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "scorecard-2022-pool-1"
    out = [base.with_suffix(".html"), base.with_suffix(".json"), base.with_suffix(".xlsx")]
    out[0].write_text(card_html(doc), encoding="utf-8")
    out[1].write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n",
                      encoding="utf-8")  # fmt: skip
    out[2].write_bytes(card_xlsx(doc))
    return out


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/samples")):
        print(path)
