"""Background work on the embedded store (console warming) gives way: a query another
thread is already waiting to run goes first (store/chdb_store.py ``background``)."""

from __future__ import annotations

import threading
import time

from cloudtally.store import Store
from cloudtally.store.chdb_store import background


def test_a_waiting_query_runs_before_a_background_one(chdb_store: Store) -> None:
    order: list[str] = []
    lock = chdb_store._lock  # type: ignore[attr-defined]

    def foreground() -> None:
        chdb_store.scalar("SELECT 1")
        order.append("foreground")

    def warm() -> None:
        with background(chdb_store):
            chdb_store.scalar("SELECT 2")
        order.append("background")

    lock.acquire()  # a long query is running
    f = threading.Thread(target=foreground)
    f.start()
    while not chdb_store._waiting:  # type: ignore[attr-defined]  # the reader now waits
        time.sleep(0.001)
    b = threading.Thread(target=warm)
    b.start()
    time.sleep(0.05)  # the warm-up is waiting too (it would win a plain race half the time)
    lock.release()
    f.join(30)
    b.join(30)
    assert order == ["foreground", "background"]
    assert chdb_store.scalar("SELECT 3") == 3  # nothing left holding the store
