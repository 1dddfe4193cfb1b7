"""Validation messages in the reader's language: a policy file's errors (CLI and the
what-if route) and the API's own 422s, localised by their kind; English stays exactly
what pydantic and the policy loader say; the shape (loc, type) does not change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cloudtally.core.policy import PolicyError, load_policy
from cloudtally.i18n.validation import policy_lines
from cloudtally.store import Store
from tests.api.conftest import auth, serve_two_bureaus
from tests.i18n.english import digits, english_sentences

EXAMPLE = Path(__file__).resolve().parents[2] / "services/cloudtally/policy/example.yaml"


@pytest.fixture
def http(chdb_store: Store, tmp_path: Path) -> Iterator[Any]:
    """The API on chDB only: what is tested is the HTTP answer, not the store."""
    yield from serve_two_bureaus(chdb_store, tmp_path)


def _broken() -> str:
    """The example with what an editor really gets wrong: a discount of 5 (for 0.5), an
    unknown key, a misspelt time zone, a repeated pool id."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("tender_discount: 0.50", "tender_discount: 5", 1)
    text = text.replace("timezone: Asia/Shanghai", "timezone: Asia/Beijing", 1)
    return text.replace("tender_discount: 5", "tender_discount: 5\n            discount: 0.5", 1)


def test_policy_errors_in_both_languages() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(_broken())
    exc = caught.value
    assert len(exc.issues) == len(exc.errors) >= 2
    assert policy_lines(exc, "en") == exc.errors  # English: as the loader has always said
    zh = policy_lines(exc, "zh")
    for z, e in zip(zh, exc.errors, strict=True):
        path = e.split(": ")[0]
        assert z.startswith(path + ": ") and z != e, (z, e)
        assert not english_sentences(z.removeprefix(path)), z
        assert digits(z.removeprefix(path)) == digits(e.removeprefix(path)), (z, e)
    assert any(z.endswith("须小于或等于 1") for z in zh), zh
    assert any("未知时区 'Asia/Beijing'" in z for z in zh), zh


def test_a_repeated_id_and_bad_yaml() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for bad, zh_words in ((text + "\n\tname: [", "不是有效的 YAML"), ("- a\n- b\n", "须为映射")):
        with pytest.raises(PolicyError) as caught:
            load_policy(bad if "\n" in bad else bad + "\n")
        assert zh_words in policy_lines(caught.value, "zh")[0]


def test_policy_validate_cli_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudtally.billing.cli import app

    monkeypatch.setenv("CLOUDTALLY_LANG", "zh")
    bad = tmp_path / "bad.yaml"
    bad.write_text(_broken(), encoding="utf-8")
    res = CliRunner().invoke(app, ["policy", "validate", str(bad)])
    assert res.exit_code == 2
    assert "versions[0].providers[2].pools[0].tender_discount: 须小于或等于 1" in res.output
    ok = CliRunner().invoke(app, ["policy", "validate", str(EXAMPLE)])
    assert ok.exit_code == 0 and "有效 — hainan-example：共 2 个版本" in ok.output, ok.output
    assert not english_sentences(ok.output.replace(str(EXAMPLE), "")), ok.output


def test_the_apis_422_by_type(http) -> None:
    client, tokens = http
    admin = auth(tokens["admin"])
    url = "/api/v1/invoices/jobs/x"
    en = client.get("/api/v1/billing/lines", params={"limit": 0, "offset": "abc"}, headers=admin)
    zh = client.get("/api/v1/billing/lines", params={"limit": 0, "offset": "abc"},
                    headers={**admin, "Accept-Language": "zh-CN"})  # fmt: skip
    assert en.status_code == zh.status_code == 422, (en.text, zh.text)
    e, z = en.json()["errors"], zh.json()["errors"]
    assert [(i["loc"], i["type"]) for i in e] == [(i["loc"], i["type"]) for i in z]
    assert {i["type"] for i in e} == {"greater_than_equal", "int_parsing"}
    by_type = {i["type"]: i["msg"] for i in e}
    assert by_type["greater_than_equal"] == "Input should be greater than or equal to 1"
    assert {i["type"]: i["msg"] for i in z} == {
        "greater_than_equal": "须大于或等于 1",
        "int_parsing": "须为整数：无法将文本解析为整数",
    }
    assert "须大于或等于 1" in zh.json()["detail"] and not english_sentences(zh.json()["detail"])
    bad_json = client.post("/api/v1/billing/what-if", content=b"{", params={"lang": "zh"},
                           headers={**admin, "Content-Type": "application/json"})  # fmt: skip
    assert bad_json.status_code == 400 and bad_json.json()["detail"] == "请求体不是有效的 JSON"
    assert client.get(url, headers=admin).status_code == 404


def test_what_if_policy_errors_in_chinese(http) -> None:
    client, tokens = http
    body = {"from": "2023-10-09", "to": "2023-10-23", "policy_yaml": _broken()}
    r = client.post("/api/v1/billing/what-if", json=body, params={"lang": "zh"},
                    headers=auth(tokens["admin"]))  # fmt: skip
    assert r.status_code == 422, r.text
    msgs = [i["msg"] for i in r.json()["errors"]]
    assert "versions[0].providers[2].pools[0].tender_discount: 须小于或等于 1" in msgs, msgs
    assert all(not english_sentences(m) for m in msgs), msgs
    en = client.post("/api/v1/billing/what-if", json=body, headers=auth(tokens["admin"]))
    assert "versions[0].providers[2].pools[0].tender_discount: must be <= 1" in [
        i["msg"] for i in en.json()["errors"]]  # fmt: skip
