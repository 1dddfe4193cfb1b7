"""A fault report refused whole (no usable header, no SLA policy, no provider) says why
in the caller's language, from the reason id and its figures — the API's ``detail``, the
CLI's error line — with the same digits in both languages; a library's own message (an
empty file) keeps its English."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.core.policy import load_policy
from cloudtally.evaluation.faults import FaultImportError, import_file
from cloudtally.i18n.reasons import of_error
from cloudtally.policy import example_policy_text
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.i18n.english import digits, english_sentences

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

POLICY = load_policy(example_policy_text())
# what a provider sends by mistake: its bill instead of its fault report (GB18030, 2 columns)
WRONG_FILE = "名称,金额\n云主机,100\n".encode("gb18030")
ZH_NO_COLUMN = (
    "缺少“接报时间, 故障等级”列（文件中的表头：名称, 金额；"
    "可用的表头如：接报时间, 报障时间, 受理时间, 故障发现时间）"
)
EN_NO_COLUMN = (
    "no column for received, severity (headers: 名称, 金额; "
    "accepted, e.g.: 接报时间, 报障时间, 受理时间, 故障发现时间)"
)


@pytest.fixture
def api(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    tokens_file = tmp_path / "tokens.yaml"
    tokens = write_demo_tokens(tokens_file, ["edu"])
    settings = Settings(api_tokens_file=tokens_file, data_dir=tmp_path)
    with TestClient(create_api(settings, lambda: store)) as c:
        yield c, tokens["admin"]


def post(c: TestClient, token: str, body: bytes, name: str, **headers: str) -> Any:
    return c.post(
        "/api/v1/availability/faults",
        files={"file": (name, body)},
        data={"provider": "provider-a"},
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def test_a_file_without_the_columns_is_refused_in_the_callers_language(api) -> None:
    c, token = api
    zh = post(c, token, WRONG_FILE, "故障.csv", **{"Accept-Language": "zh-CN,zh;q=0.9"})
    en = post(c, token, WRONG_FILE, "故障.csv")
    assert zh.status_code == en.status_code == 422
    assert zh.json()["detail"] == f"故障报告已拒绝：{ZH_NO_COLUMN}"
    assert en.json()["detail"] == f"fault report refused: {EN_NO_COLUMN}"
    assert not english_sentences(zh.json()["detail"])
    assert digits(zh.json()["detail"]) == digits(en.json()["detail"])
    empty = post(c, token, b"", "faults.csv", **{"Accept-Language": "zh"})  # no id: as written
    assert empty.status_code == 422 and empty.json()["detail"].endswith("the file is empty")


def test_whole_file_refusals_carry_an_id_and_figures(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bill.csv"
    bad.write_bytes(WRONG_FILE)
    with pytest.raises(FaultImportError) as no_column:
        import_file(store, POLICY, bad, provider="provider-a")
    with pytest.raises(FaultImportError) as no_provider:
        import_file(store, POLICY, bad, provider="")
    doc = yaml.safe_load(example_policy_text())
    del doc["sla"]  # a tariff written before the SLA section existed
    without_sla = load_policy(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(FaultImportError) as no_sla:
        import_file(store, without_sla, bad, provider="provider-a")
    assert (no_column.value.reason_id, no_column.value.family) == ("no_column", "fault")
    assert of_error(no_column.value, "zh") == ZH_NO_COLUMN
    assert of_error(no_column.value, "en") == str(no_column.value) == EN_NO_COLUMN
    assert of_error(no_provider.value, "zh") == "必须指定服务商（故障所属的合同）"
    assert of_error(no_sla.value, "zh") == "政策未规定 sla 部分：不知道有哪些故障等级"
    for exc in (no_provider.value, no_sla.value):
        assert of_error(exc, "en") == str(exc) and not english_sentences(of_error(exc, "zh"))


def test_cli_refusal_in_chinese(tmp_path: Path, monkeypatch, chdb_url) -> None:
    from cloudtally.evaluation.cli import app
    from cloudtally.settings import get_settings

    monkeypatch.setenv("CLOUDTALLY_STORE_URL", chdb_url)
    monkeypatch.setenv("CLOUDTALLY_DATABASE", "cli_fault_reasons")
    bad = tmp_path / "bill.csv"
    bad.write_bytes(WRONG_FILE)
    lines = {}
    for lang in ("zh", "en"):
        monkeypatch.setenv("CLOUDTALLY_LANG", lang)
        get_settings.cache_clear()
        out = CliRunner().invoke(app, ["faults", "import", str(bad), "--provider", "provider-a"])
        assert out.exit_code == 2, out.output
        lines[lang] = out.output.strip()
    get_settings.cache_clear()
    assert lines["zh"] == f"错误：故障报告已拒绝：{ZH_NO_COLUMN}"
    assert lines["en"] == f"error: fault report refused: {EN_NO_COLUMN}"
    assert digits(lines["zh"]) == digits(lines["en"])
