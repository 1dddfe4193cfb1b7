"""The contract a strict client relies on: auth before the body, one error shape, bounds."""

from __future__ import annotations

from tests.api.conftest import auth

ERROR_KEYS = {"detail", "errors"}


def _is_error(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == ERROR_KEYS and isinstance(body["detail"], str), body
    return body


def test_auth_is_checked_before_the_body(chdb_api) -> None:
    client, tokens = chdb_api
    garbage = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
    for path in ("/api/v1/billing/rate", "/api/v1/billing/what-if", "/api/v1/billing/close-month"):
        _is_error(client.post(path, **garbage), 401)
        bureau = {**garbage["headers"], **auth(tokens["bureau:edu"])}
        _is_error(client.post(path, content=garbage["content"], headers=bureau), 403)
        admin = {**garbage["headers"], **auth(tokens["admin"])}
        body = _is_error(client.post(path, content=garbage["content"], headers=admin), 400)
        assert "not valid JSON" in body["detail"]
        # a well-formed but wrong body: still auth first, then a 422 naming the field
        _is_error(client.post(path, json={"nope": 1}), 401)
        wrong = client.post(path, json={"nope": 1}, headers=auth(tokens["admin"]))
        assert _is_error(wrong, 422)["errors"], wrong.text


def test_one_error_shape_for_route_and_schema_errors(chdb_api) -> None:
    client, tokens = chdb_api
    h = auth(tokens["admin"])
    route = _is_error(client.get("/api/v1/vms/x/samples", params={"from": "soon"}, headers=h), 404)
    assert "no VM" in route["detail"]
    own = "vm-edu-1"
    raised = _is_error(
        client.get(f"/api/v1/vms/{own}/samples", params={"from": "soon"}, headers=h), 422
    )
    assert "from" in raised["detail"] and raised["errors"] == []
    schema = _is_error(client.get("/api/v1/vms", params={"limit": 0}, headers=h), 422)
    assert schema["errors"][0]["loc"] == ["query", "limit"]
    _is_error(client.get("/api/v1/vms"), 401)
    _is_error(client.get("/api/v1/ingest/progress", headers=auth(tokens["bureau:edu"])), 403)


def test_offsets_past_the_bound_are_a_422_not_a_500(chdb_api) -> None:
    client, tokens = chdb_api
    h = auth(tokens["admin"])
    paths = [
        p
        for p, ops in client.app.openapi()["paths"].items()
        if "get" in ops and any(x["name"] == "offset" for x in ops["get"].get("parameters", []))
    ]
    assert len(paths) >= 8
    for path in paths:
        url = path.replace("{invoice_id}", "x")
        for offset in (2**64, 2**63, 10**9 + 1):
            body = _is_error(client.get(url, params={"offset": offset}, headers=h), 422)
            assert body["errors"][0]["loc"] == ["query", "offset"], (url, body)


def test_openapi_declares_the_error_shape_everywhere(chdb_api) -> None:
    client, _ = chdb_api
    doc = client.app.openapi()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = op["responses"]
            if op.get("security"):
                assert {"401", "403"} <= set(codes), (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if op.get("requestBody"):
                assert "400" in codes, (method, path)
            for code, resp in codes.items():
                if code[0] in "45":
                    schema = resp["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
