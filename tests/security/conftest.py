"""Security tests share the API fixture of the API tests (both engines); tests about HTTP
behaviour alone (headers, error shapes, tokens) run on chDB only (``chdb_api``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudtally.store import Store
from tests.api.conftest import api, serve_two_bureaus  # noqa: F401


@pytest.fixture
def chdb_api(chdb_store: Store, tmp_path: Path) -> Iterator[Any]:
    yield from serve_two_bureaus(chdb_store, tmp_path)
