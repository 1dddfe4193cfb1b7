"""The typer app: generate → import → verify → export, on a chDB folder of its own."""

from __future__ import annotations

from typer.testing import CliRunner

from cloudtally.invoices.cli import app


def test_cli_generate_import_findings(tmp_path, monkeypatch, chdb_url):
    monkeypatch.setenv("CLOUDTALLY_STORE_URL", chdb_url)
    monkeypatch.setenv("CLOUDTALLY_DATABASE", "cli_invoices")
    monkeypatch.setenv("CLOUDTALLY_LANG", "en")  # the English words this test reads
    from cloudtally.settings import get_settings

    get_settings.cache_clear()
    r = CliRunner()
    f = tmp_path / "inv.csv"
    out = r.invoke(app, ["generate", str(f), "--vms", "10", "--errors", "B1,V1"])
    assert out.exit_code == 0, out.output
    assert "planted B1" in out.output and "planted V1" in out.output
    out = r.invoke(app, ["import", str(f), "--provider", "provider-a", "--verify"])
    assert out.exit_code == 0, out.output
    invoice_id = out.output.split()[1]
    assert "findings=" in out.output
    again = r.invoke(app, ["import", str(f), "--provider", "provider-a"])
    assert again.output.startswith("duplicate: " + invoice_id)
    html = tmp_path / "r.html"
    out = r.invoke(app, ["findings", invoice_id, "--format", "html", "--out", str(html)])
    assert out.exit_code == 0, out.output
    assert "未知资源计费" in html.read_text(encoding="utf-8")
    monkeypatch.setenv("CLOUDTALLY_LANG", "zh")
    out = r.invoke(app, ["findings", invoice_id])
    assert "未计量已计费" in out.output and "多收" in out.output, out.output
    bad = tmp_path / "bad.csv"
    bad.write_text("资源ID,资源类型\nx,y\n", encoding="utf-8")
    out = r.invoke(app, ["import", str(bad), "--provider", "provider-a"])
    assert out.exit_code == 2 and "已拒绝：缺少列：数量" in out.output, (
        out.output
    )  # zh: the reason too
    monkeypatch.setenv("CLOUDTALLY_LANG", "en")
    out = r.invoke(app, ["import", str(bad), "--provider", "provider-a"])
    assert out.exit_code == 2 and "rejected: missing columns: 数量" in out.output, out.output
    get_settings.cache_clear()
