"""Unknown CLOUDTALLY_* variables are reported at start; docs name only real settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cloudtally.envcheck import known_variables, unknown_variables

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"(?<![A-Z0-9_])CLOUDTALLY_[A-Z0-9_]*[A-Z0-9]")


def test_unknown_variables_name_the_nearest_valid_one() -> None:
    env = {
        "CLOUDTALLY_SINK_MAX_ROWS": "1",
        "CLOUDTALLY_KAFKA_BOOTSRAP": "x",
        "CLOUDTALLY_STORE_URL": "chdb:///tmp/x",
        "HOME": "/root",
    }
    assert unknown_variables(env) == [
        ("CLOUDTALLY_KAFKA_BOOTSRAP", "CLOUDTALLY_KAFKA_BOOTSTRAP"),
        ("CLOUDTALLY_SINK_MAX_ROWS", "CLOUDTALLY_TAKE_MAX_MESSAGES"),
    ]


def test_a_command_warns_once_per_unknown_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDTALLY_")} | {
        "CLOUDTALLY_DATA_DIR": str(tmp_path),
        "CLOUDTALLY_TAKE_MAX_MESAGES": "9",
    }
    r = subprocess.run(
        [sys.executable, "-m", "cloudtally.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "unknown setting" in ln]
    assert len(lines) == 1
    assert "CLOUDTALLY_TAKE_MAX_MESAGES" in lines[0]
    assert "did you mean CLOUDTALLY_TAKE_MAX_MESSAGES?" in lines[0]


def test_docs_and_deploy_name_only_settings_that_exist() -> None:
    places = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "schemas").rglob("*")]
    places += [p for p in (ROOT / "deploy").rglob("*") if p.is_file()]
    known = known_variables()
    wrong = {
        (str(p.relative_to(ROOT)), name)
        for p in places
        if p.is_file()
        for name in re.findall(
            r"(?<![A-Z0-9_])CLOUDTALLY_[A-Z0-9_]*[A-Z0-9]", p.read_text(errors="ignore")
        )
        if name not in known
    }
    assert not wrong, sorted(wrong)
