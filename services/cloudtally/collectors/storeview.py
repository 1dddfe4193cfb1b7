"""What a collector asks the store: its watermark and the VM ids inventory knows.

Why: a restart resumes from what the *store* has (principle 8), not from what
the collector remembers sending. In cluster mode the collector reads the
ClickHouse server directly; in embedded mode chDB belongs to the worker, so it
asks the API (``CLOUDTALLY_API_TOKEN``: an admin or auditor token).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterable
from typing import Any, Protocol

from cloudtally.core.heartbeat import watermark
from cloudtally.settings import Settings
from cloudtally.store import Store


class StoreView(Protocol):
    def watermark(self, source: str, partitions: Iterable[int]) -> int | None: ...

    def known_vm_ids(self) -> set[str]: ...

    def current_vms(self) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class DirectStoreView:
    """Reads a ClickHouse store itself (cluster mode, tests)."""

    def __init__(self, store: Store, *, owned: bool = False) -> None:
        self._store = store
        self._owned = owned

    @classmethod
    def open(cls, url: str, database: str) -> DirectStoreView:
        from cloudtally.store import open_store

        return cls(open_store(url, database), owned=True)

    def watermark(self, source: str, partitions: Iterable[int]) -> int | None:
        from cloudtally.queries.collectors import latest_beats

        return watermark(latest_beats(self._store, source), partitions)

    def known_vm_ids(self) -> set[str]:
        from cloudtally.queries.collectors import known_vm_ids

        return known_vm_ids(self._store)

    def current_vms(self) -> list[dict[str, Any]]:
        from cloudtally.queries.inventory import CURRENT_VMS, _vm

        return [_vm(r) for r in self._store.dicts(CURRENT_VMS)]  # the API's shape

    def close(self) -> None:
        if self._owned:
            self._store.close()


class ApiStoreView:
    """Asks the API (embedded mode: the worker owns chDB)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _get(self, path: str) -> object:
        req = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def watermark(self, source: str, partitions: Iterable[int]) -> int | None:
        doc = self._get(f"/api/v1/collectors/{urllib.request.quote(source, safe='')}/partitions")
        assert isinstance(doc, dict)
        return watermark({int(k): int(v) for k, v in doc.items()}, partitions)

    def known_vm_ids(self) -> set[str]:
        doc = self._get("/api/v1/collectors/known-vms")
        assert isinstance(doc, list)
        return {str(v) for v in doc}

    def current_vms(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            doc = self._get(f"/api/v1/vms?include_deleted=true&limit=10000&offset={len(out)}")
            assert isinstance(doc, dict)
            out.extend(doc["items"])
            if not doc["items"] or len(out) >= doc["total"]:
                return out

    def close(self) -> None:
        pass


def open_store_view(settings: Settings) -> StoreView:
    url = settings.resolved_store_url
    if url.startswith("clickhouse://"):
        return DirectStoreView.open(url, settings.database)
    token = os.environ.get("CLOUDTALLY_API_TOKEN", "")
    if not token:
        raise SystemExit(
            "embedded mode: the worker owns the chDB store, so the collector asks the API "
            "for its watermark; set CLOUDTALLY_API_TOKEN to an admin or auditor token"
        )
    return ApiStoreView(f"http://{settings.api_host}:{settings.api_port}", token)
