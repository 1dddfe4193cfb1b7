"""Evidence packs re-derive in a clean Python environment and fail loudly when changed.

The fleet is small but real: raw samples → rollups → rating under the packaged example
policy (an idle VM earns the monthly low-utilization cut, one VM is created mid-month
and one hour is half allocated), the month closed, then a pack per bureau and provider.
The verifier runs in a fresh venv holding only what the pack's requirements.txt names.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.audit import ledger, pack
from cloudtally.billing import rate as billing
from cloudtally.core.policy import load_policy
from cloudtally.policy import example_policy_text
from cloudtally.store import Store
from tests.analytics.plant import epoch, inventory, profile, samples

SH = dt.timezone(dt.timedelta(hours=8))
D0, D1 = dt.date(2023, 10, 9), dt.date(2023, 10, 13)
OCT = dt.date(2023, 10, 1)
TEXT = example_policy_text().replace(
    "utilization: {}", "utilization: {expected_sample_interval_s: 300}"
)
FLEET = {  # vm: (bureau, provider, pool, cpu %, mem %, created)
    "edu-idle": ("edu", "provider-a", "pool-1", 2.0, 3.0, epoch(2023, 9, 1)),
    "edu-busy": ("edu", "provider-a", "pool-1", 45.0, 60.0, epoch(2023, 9, 1)),
    "health-new": ("health", "provider-b", "pool-3", 30.0, 40.0, epoch(2023, 10, 10, 5, 30)),
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would show the auditor's Python our code."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the verifier's declared requirement (PyYAML)."""
    venv = tmp_path_factory.mktemp("auditor") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean_env())
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "PyYAML>=6,<7"],
        check=True,
        env=clean_env(),
    )
    out = subprocess.run([str(py), "-c", "import cloudtally"], capture_output=True, env=clean_env())
    assert out.returncode != 0, "the auditor's Python must not see cloudtally"
    return py


@pytest.fixture
def closed(store: Store) -> Iterator[Store]:
    pol = load_policy(TEXT)
    version = pol.version_at(dt.datetime(2023, 10, 9, tzinfo=SH))
    h0, h1 = hours_of_days(D0, D1, "Asia/Shanghai")
    for vm, (bureau, provider, pool, cpu, mem, created) in FLEET.items():
        disks = [(f"{vm}-d", "50", "standard")]
        inventory(store, vm, created, bureau=bureau, system=f"{bureau}-sys", pool=pool,
                  provider=provider, vcpu=4, mem_gb="8", disks=disks)  # fmt: skip
        ts, c = profile(max(h0, created), h1, 300, lambda h, v=cpu: np.full(len(h), v))
        _, m = profile(max(h0, created), h1, 300, lambda h, v=mem: np.full(len(h), v))
        samples(store, vm, ts, c, m)
    recompute_hours(store, list(FLEET), h0, h1, version.calendar, version.utilization)
    recompute_days(store, list(FLEET), D0, D1, version.calendar, version.utilization)
    ledger.record_policy(store, TEXT, pol.name)
    billing.rate_period(store, pol, dt.datetime(2023, 10, 9, tzinfo=SH),
                        dt.datetime(2023, 10, 13, tzinfo=SH))  # fmt: skip
    billing.close_month(store, pol, OCT, actor="alice")
    yield store


def run_verifier(py: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(py), "verify_pack.py", "."], cwd=folder, env=clean_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_bureau_pack_rederives_and_detects_changes(
    closed: Store, clean_python: Path, tmp_path: Path
) -> None:
    info = pack.build(closed, OCT, tmp_path / "edu.zip", bureau="edu", raw=True)
    assert info["lines"] > 0 and info["ledger_head"] == ledger.head_hash(closed)
    cut = closed.scalar(
        "SELECT count() FROM bill_lines WHERE vm_id = 'edu-idle' AND position(adjustments, "
        "'low_utilization') > 0"
    )
    assert cut > 0, "the idle VM's lines carry the low-utilization cut the verifier re-derives"
    folder = pack.unpack(tmp_path / "edu.zip", tmp_path / "x")
    ok = run_verifier(clean_python, folder)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert info["ledger_head"] in ok.stdout
    # No other bureau's line is in a bureau's pack.
    assert "health-new" not in (folder / "bill_lines.csv").read_text(encoding="utf-8")

    # Any changed file fails on its manifest hash.
    for name in ("bill_lines.csv", "usage_hourly.csv", "policy.yaml", "samples.csv"):
        changed = tmp_path / f"c-{name}"
        shutil.copytree(folder, changed)
        p = changed / name
        p.write_text(p.read_text(encoding="utf-8").replace("4", "5", 1), encoding="utf-8")
        out = run_verifier(clean_python, changed)
        assert out.returncode == 1 and f"FAIL {name}: changed" in out.stdout, out.stdout


def test_consistent_forgery_still_fails(closed: Store, clean_python: Path, tmp_path: Path) -> None:
    """A forger who also rewrites the manifest is caught by re-derivation and the ledger."""
    import hashlib
    import json

    pack.build(closed, OCT, tmp_path / "edu.zip", bureau="edu")
    folder = pack.unpack(tmp_path / "edu.zip", tmp_path / "x")
    lines = (folder / "bill_lines.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    i = header.index("after_cut")
    row = lines[1].split(",")
    row[i] = str(float(row[i]) + 1)
    lines[1] = ",".join(row)
    (folder / "bill_lines.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    m["files"]["bill_lines.csv"] = hashlib.sha256(
        (folder / "bill_lines.csv").read_bytes()
    ).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    out = run_verifier(clean_python, folder)
    assert out.returncode == 1
    assert "after_cut" in out.stdout and "bureau_digests" in out.stdout, out.stdout


def test_provider_pack_verifies(closed: Store, clean_python: Path, tmp_path: Path) -> None:
    info = pack.build(closed, OCT, tmp_path / "b.zip", provider="provider-b")
    folder = pack.unpack(tmp_path / "b.zip", tmp_path / "x")
    out = run_verifier(clean_python, folder)
    assert out.returncode == 0, out.stdout + out.stderr
    assert info["statement"]["lines"] > 0


def test_invoice_pack_verifies_and_detects_an_edited_line(
    store: Store, clean_python: Path, tmp_path: Path
) -> None:
    from cloudtally.invoices.generator import (
        generate_invoice,
        render_provider_csv,
        seed_metering,
        simulate_fleet,
    )
    from cloudtally.invoices.importer import import_invoice
    from cloudtally.invoices.service import verify_invoice

    exp, vms = simulate_fleet(seed=5, vms=10)
    seed_metering(store, exp, vms)
    lines, _ = generate_invoice(exp, vms, errors=["A1", "Q1"])
    res = import_invoice(store, render_provider_csv(lines), provider="provider-a")
    verify_invoice(store, res.invoice_id)
    info = pack.build_invoice(store, res.invoice_id, tmp_path / "inv.zip")
    assert info["entries"] == 2
    folder = pack.unpack(tmp_path / "inv.zip", tmp_path / "x")
    ok = run_verifier(clean_python, folder)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Edit a line and re-seal the manifest: the ledger entry no longer matches the files.
    import hashlib
    import json

    p = folder / "invoice_lines.csv"
    rows = p.read_text(encoding="utf-8").splitlines()
    rows[1] = rows[1].replace(",", ",9", 1)
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    m["files"]["invoice_lines.csv"] = hashlib.sha256(p.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    bad = run_verifier(clean_python, folder)
    assert bad.returncode == 1 and "invoice_imported" in bad.stdout, bad.stdout
