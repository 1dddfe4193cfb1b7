"""``cloudtally availability`` against the planted fleet on the 18.16 server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloudtally.cli import app
from cloudtally.settings import get_settings
from cloudtally.store import Store
from tests.evaluation.fleet import plant
from tests.evaluation.test_fault_reports import write_xlsx

runner = CliRunner()


@pytest.fixture
def cli_env(server_store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    port = int(server_store._client_kw["port"])  # type: ignore[attr-defined]
    url = f"clickhouse://127.0.0.1:{port}/{server_store.database}"
    monkeypatch.setenv("CLOUDTALLY_STORE_URL", url)
    monkeypatch.delenv("CLOUDTALLY_POLICY_FILE", raising=False)
    monkeypatch.setenv("CLOUDTALLY_LANG", "en")  # the English words the test reads
    get_settings.cache_clear()
    plant(server_store)
    yield
    get_settings.cache_clear()


def test_report_credits_and_faults(cli_env: None, tmp_path: Path) -> None:
    res = runner.invoke(app, ["availability", "report", "--month", "2023-03", "--by", "pool"])
    assert res.exit_code == 0, res.output
    assert "pool-1: availability 99.4680 %" in res.output and "BELOW" in res.output
    assert "vm-a 2023-03-31 23:30 30 min no_samples" in res.output
    res = runner.invoke(app, ["availability", "credits", "--month", "2023-03"])
    assert res.exit_code == 0 and "provider-a: credit 0.00" in res.output  # no fees rated
    path = tmp_path / "f.xlsx"
    write_xlsx(path)
    res = runner.invoke(
        app, ["availability", "faults", "import", str(path), "--provider", "provider-a"]
    )
    assert res.exit_code == 2 and "3 imported, 4 rejected" in res.output
    assert "row 6: received: the received time is required" in res.output
    res = runner.invoke(app, ["--lang", "zh", "availability", "faults", "import", str(path),
                              "--provider", "provider-a"])  # fmt: skip
    assert "f.xlsx：已导入 3 行，拒绝 4 行" in res.output, res.output  # re-imported: same ids
    assert "已拒绝：第 6 行，接报时间：必须填写接报时间" in res.output, res.output
    assert "已拒绝：第 7 行，到场时间：到场时间早于接报时间" in res.output, res.output
    assert "未知的故障等级；政策中已知的等级为：" in res.output, res.output
    assert "已拒绝：第 9 行，接报时间：不是日期：'yesterday'" in res.output, res.output
    runner.invoke(app, ["--lang", "en", "--help"])
    res = runner.invoke(app, ["availability", "faults", "check", "--month", "2023-03"])
    assert res.exit_code == 0, res.output
    assert "F-1 on_site: limit 30 min" in res.output
    zh = runner.invoke(app, ["--lang", "zh", "availability", "report", "--month", "2023-03"])
    assert "pool-1：可用率 99.4680%" in zh.output and "未达标" in zh.output, zh.output
    zh = runner.invoke(app, ["--lang", "zh", "availability", "faults", "check", "--month",
                             "2023-03"])  # fmt: skip
    assert "F-1 on_site：时限 30 min" in zh.output, zh.output
    runner.invoke(app, ["--lang", "en", "--help"])
    bad = runner.invoke(app, ["availability", "report"])
    assert bad.exit_code == 2
