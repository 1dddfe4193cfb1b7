"""The billing CLI end to end on the ClickHouse server: validate, rate, close, export."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from cloudtally.billing.cli import app
from cloudtally.settings import get_settings
from cloudtally.store import Store
from tests.billing import fleet

EXAMPLE = Path(__file__).resolve().parents[2] / "services/cloudtally/policy/example.yaml"
runner = CliRunner()


def test_policy_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDTALLY_LANG", "en")  # the English words this test reads
    ok = runner.invoke(app, ["policy", "validate", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "ok — hainan-example: 2 version(s)" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("tender_discount: 0.50", "tender_discount: 5", 1))
    res = runner.invoke(app, ["policy", "validate", str(bad)])
    assert res.exit_code == 2
    assert "versions[0].providers[2].pools[0].tender_discount: must be <= 1" in res.output


@pytest.fixture
def cli_env(server_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    policy = tmp_path / "policy.yaml"
    policy.write_text(fleet.policy_text())
    monkeypatch.setenv("CLOUDTALLY_STORE_URL", f"clickhouse://127.0.0.1:{_port(server_store)}/"
                       f"{server_store.database}")  # fmt: skip
    monkeypatch.setenv("CLOUDTALLY_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    fleet.insert_usage(server_store, fleet.fleet_rows())
    yield policy
    get_settings.cache_clear()


def _port(store: Store) -> int:
    return int(store._client_kw["port"])  # type: ignore[attr-defined]


def test_rate_close_and_export(cli_env: Path, server_store: Store, tmp_path: Path) -> None:
    res = runner.invoke(app, ["rate", "--from", "2023-01-15", "--to", "2023-01-17"])
    assert res.exit_code == 0, res.output
    assert "16 lines" in res.output and "total 41.23 CNY" in res.output
    res = runner.invoke(app, ["rate", "--from", "2023-01-15", "--to", "2023-01-17", "--rerate"])
    assert res.exit_code == 2  # a re-rate needs a reason
    res = runner.invoke(app, ["rate", "--from", "2023-01-15", "--to", "2023-01-17", "--rerate",
                              "--reason", "audit", "--actor", "alice"])  # fmt: skip
    assert res.exit_code == 0 and "(was 41.23)" in res.output
    res = runner.invoke(app, ["close-month", "2023-01"])
    assert res.exit_code == 0 and "p1: fee 34.75 volume tier -1.74" in res.output
    again = runner.invoke(app, ["close-month", "2023-01"])
    assert again.exit_code == 2 and "needs a reason" in again.output
    res = runner.invoke(app, ["statement", "--month", "2023-01", "--by", "bureau",
                              "--format", "csv", "--lang", "zh"])  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "使用单位,明细条数,目录价金额,折扣后金额,调整后金额"
    assert lines[1].startswith("b1,12,") and lines[1].endswith(",38.16")
    assert lines[-2] == "合计,16,,,38.59"  # 41.23 − 1.74 − 0.90
    assert lines[-1].startswith("审计账本链头,") and "（已出具第 0 版）" in lines[-1]
    out = tmp_path / "s.xlsx"
    res = runner.invoke(
        app, ["statement", "--fy", "2023", "--format", "xlsx", "--out", str(out), "--lang", "en"]
    )
    assert res.exit_code == 0, res.output
    ws = load_workbook(io.BytesIO(out.read_bytes())).active
    assert [c.value for c in ws[1]] == ["provider", "lines", "list_amount", "after_discount",
                                        "after_cut"]  # fmt: skip
    assert ws.cell(ws.max_row - 1, 5).value == pytest.approx(38.59)  # then the ledger head
    assert ws.cell(ws.max_row, 1).value == "LEDGER HEAD"
