"""A VM that moves after its round item was accepted is judged by the deciding bureau's
own view of it: its size when it left, not the new owner's resize; for the buyer as for
the bureau, and the check says when it moved (the buyer: to whom). Both stores."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal

from fastapi.testclient import TestClient

from cloudtally.api.main import create_api
from cloudtally.core.access import Principal
from cloudtally.core.idle import UnitPrices
from cloudtally.rounds import store as rounds
from cloudtally.settings import Settings
from tests.analytics.plant import inventory
from tests.api.fleet import D0, D1, plant, policy, policy_text

ADMIN = Principal("admin", "admin")
HEALTH = Principal("bureau:health", "bureau", "health")
EDU = Principal("bureau:edu", "bureau", "edu")
PRICES = UnitPrices(vcpu_year=Decimal("600"), mem_gb_year=Decimal("200"))
VM = "health-oversized"


def test_a_vm_moved_after_acceptance_is_judged_by_the_deciders_view(store, tmp_path) -> None:
    pol = policy()
    plant(store, pol)
    r1 = rounds.open_round(store, pol, ADMIN, D0, D1, quarter="2023-Q4", prices=lambda _s: PRICES)
    item = next(i for i in rounds.items(store, r1, bureau="health") if i["vm_id"] == VM)
    rounds.decide(store, r1, "rightsizing", VM, "accepted", "", HEALTH)
    rounds.decide(store, r1, "idle", "edu-idle", "accepted", "", EDU)
    moved = int(time.time()) + 60
    where = {"system": "health-sys", "pool": "pool-3", "provider": "provider-b"}
    # health hands the VM over as it was; edu then resizes it to the target and beyond
    inventory(store, VM, moved, event="updated", bureau="edu", vcpu=int(item["vcpu"]),
              mem_gb=str(item["mem_gb"]), **where)  # fmt: skip
    inventory(store, VM, moved + 60, event="updated", bureau="edu", vcpu=1, mem_gb="1", **where)
    as_of = dt.date(2023, 10, 23)
    buyer = {i["vm_id"]: i for i in rounds.verify(store, r1, as_of)["items"]}[VM]
    mine = {i["vm_id"]: i for i in rounds.verify(store, r1, as_of, bureau="health")["items"]}
    for seen in (buyer, mine[VM]):
        assert seen["implementation"] == "not_done", seen  # edu's resize is not health's
        assert seen["now_vcpu"] == item["vcpu"], seen
        assert seen["moved_at"] == dt.datetime.fromtimestamp(moved, dt.UTC), seen
    assert buyer["moved_to"] == "edu" and mine[VM]["moved_to"] is None
    # edu's check has its own item only, and a VM that stayed carries no move
    edu = rounds.verify(store, r1, as_of, bureau="edu")["items"]
    assert [(i["vm_id"], i["moved_at"]) for i in edu] == [("edu-idle", None)]
    assert buyer["bureau"] == "health" and len(rounds.verify(store, r1, as_of)["items"]) == 2

    # the next round's page shows the check, and the move on the moved VM's row
    r2 = rounds.open_round(store, pol, ADMIN, D0, D1, quarter="2024-Q1", prices=lambda _s: PRICES)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy_text(), encoding="utf-8")
    settings = Settings(_env_file=None, api_auth=False, data_dir=tmp_path,  # type: ignore[call-arg]
                        policy_file=policy_file)  # fmt: skip
    with TestClient(create_api(settings, lambda: store)) as c:
        html = c.get(f"/console/rounds/{r2}").text
    row = re.search(rf'<tr data-vm="{VM}">(.*?)</tr>', html, re.S)
    assert row and 'data-testid="moved"' in row.group(1) and "→ edu" in row.group(1), html[-3000:]
    assert "未调整" in row.group(1)
    assert 'data-testid="moved"' not in re.search(
        r'<tr data-vm="edu-idle">(.*?)</tr>', html, re.S
    ).group(1)  # type: ignore[union-attr]
