"""``cloudtally scorecard`` as a buyer runs it, on a chDB folder of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.scorecard.zhongshan import POLICY


def run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "cloudtally.cli", *args], capture_output=True,
                       text=True, env=env, timeout=300)  # fmt: skip
    assert (p.returncode == 0) == ok, p.stdout + p.stderr
    return p


def test_enter_import_show_report(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    env = {**os.environ, "CLOUDTALLY_DATA_DIR": str(tmp_path),
           "CLOUDTALLY_POLICY_FILE": str(tmp_path / "policy.yaml")}  # fmt: skip
    env.pop("CLOUDTALLY_STORE_URL", None)
    run(env, "migrate")
    year = ("--year", "2022")
    run(env, "scorecard", "enter", *year, "--indicator", "target_clarity", "--points", "2.5",
        "--comment", "部分绩效指标设置不够合理", "--by", "zhang")  # fmt: skip
    bad = run(env, "scorecard", "enter", *year, "--indicator", "target_clarity", "--points",
              "five", "--comment", "x", ok=False)  # fmt: skip
    assert "not a number" in bad.stderr
    run(env, "scorecard", "budget", *year, "--available", "58230000", "--paid", "58230000",
        "--comment", "财政拨付")  # fmt: skip
    survey = tmp_path / "survey.csv"
    survey.write_text("满意度,比例\n非常满意,80%\n比较满意,20%\n一般,0%\n不满意,0%\n",
                      encoding="utf-8")  # fmt: skip
    run(env, "scorecard", "survey", *year, str(survey))
    out = run(env, "scorecard", "show", *year, "--provider", "cetc", "--pool", "pool-1").stdout
    assert re.search(r"2\.50 /\s+4\s+人工录入\s+绩效指标明确性", out)
    assert "总分 12.50 / 100 → 差" in out  # 2.5 entered + 2 budget + 6 survey + 2 price
    assert "满意率 96.00%" in out and "预算执行率" in out
    html = tmp_path / "card.html"
    run(env, "scorecard", "report", *year, "--provider", "cetc", "--pool", "pool-1",
        "--out", str(html))  # fmt: skip
    assert "目标用户使用体验满意率" in html.read_text(encoding="utf-8")
    listed = run(env, "scorecard", "entries", *year).stdout
    assert "zhang" in listed and "survey" in listed
    assert run(env, "audit", "verify").returncode == 0
