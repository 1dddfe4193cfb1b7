"""Uploads cannot exhaust memory: a decompression bomb and an oversize sheet are refused
before parsing, with a reason; a real workbook still imports."""

from __future__ import annotations

import io
import resource
import zipfile
from pathlib import Path

import pytest

from cloudtally.core.invoice import InvoiceError
from cloudtally.invoices.generator import generate_invoice, render_focus_csv, render_provider_xlsx
from cloudtally.invoices.upload_bounds import UploadBounds, bounded_cells, check_xlsx_archive
from tests.api.test_invoices_api import fleet, upload, wait

SHEET = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>'
)


def bomb(path: Path, mib: int) -> Path:
    """A well-formed workbook whose one shared string is ``mib`` MiB of 'A' (≈ 1000:1)."""
    real = io.BytesIO(render_provider_xlsx([]))
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            if not info.filename.endswith("sharedStrings.xml"):
                zf.writestr(info, src.read(info))
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            out.write(b"<si><t>")
            chunk = b"A" * (1 << 20)
            for _ in range(mib):
                out.write(chunk)
            out.write(b"</t></si></sst>")
    return path


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_decompression_bomb_is_refused_before_parsing(api, store, tmp_path: Path) -> None:
    client, tokens = api
    admin = tokens["admin"]
    path = bomb(tmp_path / "bomb.xlsx", 300)
    assert path.stat().st_size < 2 << 20
    before = _rss_mib()
    job = wait(client, admin, upload(client, admin, path.read_bytes(), "bomb.xlsx"))
    assert job["state"] == "failed"
    assert "sharedStrings.xml" in job["message"] and "refused before parsing" in job["message"]
    assert _rss_mib() - before < 150  # peak RSS: the 300 MiB string was never inflated
    assert store.scalar("SELECT count() FROM invoices") == 0


def test_bounds_name_the_variable_that_sets_them(tmp_path: Path) -> None:
    path = bomb(tmp_path / "b.xlsx", 3)
    with pytest.raises(InvoiceError, match=r"inflates .* times"):
        check_xlsx_archive(path)
    with pytest.raises(InvoiceError, match="CLOUDTALLY_INVOICE_MAX_UNCOMPRESSED_BYTES"):
        check_xlsx_archive(path, UploadBounds(max_uncompressed=1 << 20))
    with pytest.raises(InvoiceError, match="CLOUDTALLY_INVOICE_MAX_SHARED_STRINGS_BYTES"):
        check_xlsx_archive(path, UploadBounds(max_shared_strings=1 << 20))
    rows = [["a"] * 10] * 10
    assert list(bounded_cells(rows, UploadBounds(max_cells=100))) == rows
    with pytest.raises(InvoiceError, match=r"row 11: .* 100 cells .*MAX_CELLS"):
        list(bounded_cells([*rows, ["a"]], UploadBounds(max_cells=100)))
    with pytest.raises(InvoiceError, match="row 1: 2,000 columns"):
        list(bounded_cells([["a"] * 2000]))


def test_cell_bound_applies_to_csv_uploads(api, store, monkeypatch) -> None:
    client, tokens = api
    admin = tokens["admin"]
    exp, lifecycle = fleet(store, vms=4)
    lines, _ = generate_invoice(exp, lifecycle, form="focus")
    data = render_focus_csv(lines, provider="provider-a", billing_period=(
        exp[0].period_start, exp[0].period_end))  # fmt: skip
    monkeypatch.setenv("CLOUDTALLY_INVOICE_MAX_CELLS", "100")
    job = wait(client, admin, upload(client, admin, data, "f.csv", format="focus"))
    assert job["state"] == "failed" and "CLOUDTALLY_INVOICE_MAX_CELLS" in job["message"]
    monkeypatch.delenv("CLOUDTALLY_INVOICE_MAX_CELLS")
    job = wait(client, admin, upload(client, admin, data, "f.csv", format="focus"))
    assert job["state"] == "done", job["message"]
