"""Schemathesis against the running API (real HTTP, real chDB store), for an admin and a
bureau token: the API answers as its own OpenAPI says, with 0 failures.

Checks: no 5xx, every status code documented, content types and response bodies
as declared (the one error shape included), headers as declared, and auth not
ignored. Not run: ``positive_data_acceptance`` / ``negative_data_rejection`` —
the API is deliberately lenient (epoch seconds where the schema says a date) and
has cross-field rules a schema cannot state (``from`` before ``to``). Bounded:
examples and fuzzing phases, 4 examples per operation, a fixed seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.security.ownership_fleet import seed_moving_fleet

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "ignored_auth",
    ]
)


@pytest.fixture
def running_api(chdb_store: Store, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    import uvicorn

    seed_moving_fleet(chdb_store, hours=48)
    tokens = write_demo_tokens(tmp_path / "tokens.yaml", ["edu", "health"])
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_tokens_file=tmp_path / "tokens.yaml",
        data_dir=tmp_path,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(settings, lambda: chdb_store),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield base, tokens
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.mark.parametrize("role", ["admin", "bureau:health"])
def test_the_api_matches_its_openapi(running_api, role: str, tmp_path: Path) -> None:
    base, tokens = running_api
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st), "run", f"{base}/openapi.json",
        "-H", f"Authorization: Bearer {tokens[role]}",
        "--phases", "examples,fuzzing", "-n", "4", "--seed", "12",
        "--request-timeout", "60", "--checks", CHECKS,
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert " passed" in r.stdout
