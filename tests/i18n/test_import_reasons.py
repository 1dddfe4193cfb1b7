"""Why an invoice was refused, in the reader's language: every row and file reason the
importer gives carries an id and its figures, renders in Chinese without English sentences
and with the same digits as in English; a stored job keeps the ids, so the API answers the
same job in either language; a job stored before the ids shows its English."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cloudtally.core.invoice import (
    InvoiceError,
    default_provider_mapping,
    detect_encoding,
    parse_rows,
)
from cloudtally.i18n import keys
from cloudtally.i18n.reasons import of_error, row_error, row_line
from cloudtally.invoices import jobstore
from cloudtally.invoices.service import Job
from cloudtally.store import Store
from tests.api.conftest import auth, serve_two_bureaus
from tests.api.test_invoices_api import upload, wait
from tests.i18n.english import digits, english_sentences

HEADER = ["资源ID", "资源类型", "计费周期", "数量", "单价", "折扣", "金额"]
BAD_ROWS = {  # what a provider's export really holds, one fault a row
    "not_a_number": ["vm-1", "vCPU", "2024-01", "约12", "0.05", "", "10.00"],
    "empty_number": ["vm-2", "vCPU", "2024-01", "744", "0.05", "", ""],
    "not_a_valid_date": ["vm-3", "vCPU", "2024-02-30", "744", "0.05", "", "10.00"],
    "not_a_date": ["vm-4", "vCPU", "上月", "744", "0.05", "", "10.00"],
    "negative_quantity": ["vm-5", "vCPU", "2024-01", "-744", "0.05", "", "10.00"],
    "negative_unit_price": ["vm-6", "vCPU", "2024-01", "744", "-0.05", "", "10.00"],
    "discount_range": ["vm-7", "vCPU", "2024-01", "744", "0.05", "150%", "10.00"],
    "empty_resource_id": ["", "vCPU", "2024-01", "744", "0.05", "", "10.00"],
    "empty_resource_type": ["vm-9", "", "2024-01", "744", "0.05", "", "10.00"],
    "row_wider_than_header": ["vm-10", "vCPU", "2024-01", "744", "0.05", "", "10.00", "x", "y"],
    "amount_range": ["vm-11", "vCPU", "2024-01", "744", "0.05", "", "1e30"],
    "ends_before_start": ["vm-12", "vCPU", "2024-01-31~2024-01-01", "744", "0.05", "", "1.00"],
}


@pytest.fixture
def reasons_api(store: Store, tmp_path: Path) -> Iterator[Any]:
    yield from serve_two_bureaus(store, tmp_path)


def _row_errors():
    result = parse_rows([HEADER, *BAD_ROWS.values()], default_provider_mapping("provider-a"))
    return result.errors


def test_every_bad_row_has_a_reason_in_both_languages() -> None:
    errors = _row_errors()
    assert [e.reason_id for e in errors] == list(BAD_ROWS)
    for e in errors:
        zh, en = row_line(e, "zh"), row_line(e, "en")
        assert en == str(e), (en, str(e))  # the English is the importer's own sentence
        assert not english_sentences(zh), zh
        assert digits(zh) == digits(en), (zh, en)
        assert zh.startswith(f"第 {e.row} 行"), zh
        assert row_error(e, "zh")["params"] == dict(e.params)


@pytest.mark.parametrize(
    ("head", "reason_id"),
    [
        (codecs.BOM_UTF16_LE + "资源ID".encode("utf-16-le"), "utf16"),
        (b"PK\x03\x04rest-of-a-workbook", "zip_not_csv"),
        (b"id,amount\n\x00\x00\x00", "nul_bytes"),
        (b"\x81\x30\x81" * 5 + b"\xff\xff", "unknown_encoding"),
    ],
)
def test_file_refusals_in_both_languages(head: bytes, reason_id: str) -> None:
    with pytest.raises(InvoiceError) as caught:
        detect_encoding(head)
    exc = caught.value
    assert exc.reason_id == reason_id
    assert of_error(exc, "en") == str(exc)
    zh = of_error(exc, "zh")
    assert zh != str(exc) and not english_sentences(zh.replace("encoding", "")), zh


def test_every_import_reason_keeps_its_figures() -> None:
    en, zh = keys("en"), keys("zh")
    reason_keys = [k for k in en if k.startswith("import.")]
    assert len(reason_keys) > 50
    for k in reason_keys:
        assert zh.get(k), k
        assert digits(zh[k]) == digits(en[k]) or "CLOUDTALLY" in en[k], k


def test_a_rejected_upload_answers_in_the_callers_language(reasons_api, store) -> None:
    client, tokens = reasons_api
    token = tokens["admin"]
    rows = [
        ",".join(HEADER),
        ",".join(BAD_ROWS["not_a_number"]),
        ",".join(BAD_ROWS["discount_range"]),
    ]
    job = wait(client, token, upload(client, token, "\n".join(rows).encode(), "bad.csv"))
    assert job["state"] == "failed"
    assert job["message"].startswith("2 of 2 rows are invalid")  # English by default
    url = job["status_url"]
    zh = client.get(url, headers={**auth(token), "Accept-Language": "zh-CN,zh;q=0.9"}).json()
    assert zh["message"] == "2 行中有 2 行无效；未导入任何内容"
    assert [e["reason"] for e in zh["errors"]] == [
        "不是数字",
        "折扣率须在 0 到 1 之间（或 0–100%）",
    ]
    assert [e["reason_id"] for e in zh["errors"]] == ["not_a_number", "discount_range"]
    assert [(e["row"], e["column"], e["value"]) for e in zh["errors"]] == [
        (2, "数量", "约12"), (3, "折扣", "150%")]  # fmt: skip
    en = client.get(url, params={"lang": "en"}, headers=auth(token)).json()
    assert [e["reason"] for e in en["errors"]] == [
        "not a number", "a discount ratio must be between 0 and 1 (or 0-100 %)"]  # fmt: skip

    missing = wait(client, token, upload(client, token, "资源ID,资源类型\nx,y\n".encode(), "m.csv"))
    zh = client.get(missing["status_url"], params={"lang": "zh"}, headers=auth(token)).json()
    assert zh["message"].startswith("缺少列：数量；") or zh["message"].startswith("缺少列：数量;")
    assert {e["reason"] for e in zh["errors"]} >= {"缺少此列", "缺少此列；以下任一表头均可"}


def test_a_job_stored_before_the_ids_shows_its_english(reasons_api, store) -> None:
    client, tokens = reasons_api
    row = {"row": 4, "column": "金额", "reason": "not a number", "value": "x"}
    old = Job(job_id="old-failed", kind="import", state="failed", message="the file is empty",
              errors=[row])  # fmt: skip
    jobstore.save(store, old)
    from cloudtally.invoices.service import registry

    with registry._lock:
        registry._jobs.pop("old-failed", None)
    r = client.get("/api/v1/invoices/jobs/old-failed", params={"lang": "zh"},
                   headers=auth(tokens["admin"])).json()  # fmt: skip
    assert r["message"] == "the file is empty"
    assert r["errors"][0]["reason"] == "not a number" and r["errors"][0]["reason_id"] == ""


def test_cli_rejection_in_chinese(tmp_path, monkeypatch, chdb_url) -> None:
    from cloudtally.invoices.cli import app
    from cloudtally.settings import get_settings

    monkeypatch.setenv("CLOUDTALLY_STORE_URL", chdb_url)
    monkeypatch.setenv("CLOUDTALLY_DATABASE", "cli_reasons")
    monkeypatch.setenv("CLOUDTALLY_LANG", "zh")
    get_settings.cache_clear()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([",".join(HEADER), ",".join(BAD_ROWS["negative_quantity"])]),
                   encoding="utf-8")  # fmt: skip
    out = CliRunner().invoke(app, ["import", str(bad), "--provider", "provider-a"])
    get_settings.cache_clear()
    assert out.exit_code == 2
    assert "已拒绝：1 行中有 1 行无效" in out.output, out.output
    assert "第 2 行，“数量”列：数量为负（值 '-744'）" in out.output, out.output
    assert not english_sentences(out.output), out.output


COLS = {"resource_id": "a", "resource_type": "t", "quantity": "q", "amount": "m", "period": "p"}
MAPPINGS = [  # what an operator's mapping file gets wrong
    ([], "map_not_object", "映射须为含 provider 和 columns 的对象"),
    ({"provider": "p", "columns": {"资源": "x"}}, "map_unknown_field",
     "mapping.columns.资源：未知字段"),
    ({"provider": "p", "columns": COLS, "oops": 1}, "map_unknown_keys", "映射含未知的键：oops"),
    ({"provider": "p", "columns": COLS, "timezone": "Asia/Beijing"}, "map_timezone",
     "mapping.timezone 'Asia/Beijing' 不是已知的时区"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "reason_id", "zh"), MAPPINGS)
def test_mapping_refusals_in_both_languages(doc: object, reason_id: str, zh: str) -> None:
    from cloudtally.core.invoice import mapping_from_dict

    with pytest.raises(InvoiceError) as caught:
        mapping_from_dict(doc)  # type: ignore[arg-type]
    assert caught.value.reason_id == reason_id
    assert of_error(caught.value, "en") == str(caught.value)
    assert of_error(caught.value, "zh").startswith(zh), of_error(caught.value, "zh")
