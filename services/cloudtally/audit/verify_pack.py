#!/usr/bin/env python3
"""Verify a cloudtally evidence pack on any machine with Python 3.10+ and PyYAML.

    python3 -m venv v && v/bin/pip install -r requirements.txt && v/bin/python verify_pack.py .

It trusts nothing in the pack it cannot recompute, and imports nothing from cloudtally
(it is deliberately a second, independent implementation of the rules):

1. every file's SHA-256 against manifest.json;
2. the ledger chain (ledger.json) from its first entry to the head named in the manifest —
   compare that head with the one printed on the statement you hold;
3. the month's ledger entry: this bureau's lines (bill_lines.csv) and corrections
   (restatement_lines.csv) digest to the values the entry's content hash covers;
4. every bill line re-derived from the hourly rollups (usage_hourly.csv) and the policy
   file (policy.yaml, whose SHA-256 must be an activated version in the ledger):
   quantity, list amount, tender discount, low-utilization cut, rounded half-up to the fen;
5. the statement total (statement.json) = Σ lines, and original + corrections = net;
6. raw-sample digests per VM-day (samples.csv when the pack carries raw samples) and the
   sample counts of the rollups.

Exit 0 when everything holds, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import sys
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

CENT = Decimal("0.01")
UTC = dt.timezone.utc  # noqa: UP017 (the verifier runs on Python 3.10 too)
GENESIS = "0" * 64
UNIT_COLUMNS = {
    "vcpu": "vcpu",
    "memory": "mem_gb",
    "storage_performance": "storage_gb_performance",
    "storage_standard": "storage_gb_standard",
    "storage_archive": "storage_gb_archive",
}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def canonical_row(values: list[str]) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def digest(lines: list[str]) -> str:
    return hashlib.sha256(("\n".join(sorted(lines)) + "\n").encode("utf-8")).hexdigest()


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def content_hash(parts: list[tuple[str, list[str], list[list[str]]]]) -> str:
    out: list[str] = []
    for name, columns, rows in sorted(parts, key=lambda p: p[0]):
        out.append(f"# {name}")
        out.append(canonical_row(columns))
        out.extend(sorted(canonical_row(r) for r in rows))
    return hashlib.sha256(("\n".join(out) + "\n").encode("utf-8")).hexdigest()


def entry_hash(e: dict) -> str:
    subject = json.dumps(e["subject"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    fields = [
        str(e["seq"]), e["entry_id"], e["kind"], subject, e["content_hash"],
        str(e["row_count"]), e["actor"], e["reason"], str(e["at"]), e["prev_hash"],
    ]  # fmt: skip
    return hashlib.sha256(canonical_row(fields).encode("utf-8")).hexdigest()


def half_up(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


class Pack:
    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.problems: list[str] = []
        self.manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))

    def fail(self, msg: str) -> None:
        self.problems.append(msg)

    # 1 ---------------------------------------------------------------------------------
    def check_files(self) -> None:
        for name, want in sorted(self.manifest["files"].items()):
            p = self.dir / name
            if not p.exists():
                self.fail(f"{name}: missing from the pack")
            elif sha256_file(p) != want:
                self.fail(f"{name}: changed (SHA-256 differs from the manifest)")

    # 2 ---------------------------------------------------------------------------------
    def check_chain(self) -> list[dict]:
        entries = json.loads((self.dir / "ledger.json").read_text(encoding="utf-8"))["entries"]
        prev, seq = GENESIS, 1
        for e in entries:
            if e["seq"] != seq:
                self.fail(f"ledger: entry {seq} missing before entry {e['seq']}")
            if e["prev_hash"] != prev:
                self.fail(f"ledger: entry {e['seq']} does not follow the entry before it")
            if entry_hash(e) != e["entry_hash"]:
                self.fail(f"ledger: entry {e['seq']} was altered")
            prev, seq = e["entry_hash"], e["seq"] + 1
        if prev != self.manifest["ledger_head"]:
            self.fail("ledger: the chain does not end at the head named in the manifest")
        return entries

    # 3 ---------------------------------------------------------------------------------
    def check_month_entry(self, entries: list[dict]) -> None:
        proof = json.loads((self.dir / "month_entry.json").read_text(encoding="utf-8"))
        if proof.get("seq") is None:
            return  # the month is not closed: nothing issued to prove
        entry = next((e for e in entries if e["seq"] == proof["seq"]), None)
        if entry is None:
            self.fail(f"month entry {proof['seq']} is not in the ledger")
            return
        for name, file in (("bureau_digests", "bill_lines.csv"),
                           ("restatement_digests", "restatement_lines.csv")):  # fmt: skip
            cols, rows = read_csv(self.dir / file)
            b = cols.index("bureau")
            by_bureau: dict[str, list[str]] = defaultdict(list)
            for r in rows:
                by_bureau[r[b]].append(canonical_row(r))
            if self.manifest["scope"].get("bureau"):
                by_bureau.setdefault(self.manifest["scope"]["bureau"], [])
            for bureau, texts in sorted(by_bureau.items()):
                if texts or name == "bureau_digests":
                    self._check_digest(proof["parts"], name, bureau, digest(texts), len(texts))
        parts = [(p["name"], p["columns"], p["rows"]) for p in proof["parts"]]
        if content_hash(parts) != entry["content_hash"]:
            self.fail(f"month entry {entry['seq']}: its content does not hash to the ledger's")

    def _check_digest(self, parts: list, name: str, bureau: str, got: str, n: int) -> None:
        part = next((p for p in parts if p["name"] == name), None)
        row = next((r for r in (part or {}).get("rows", []) if r[0] == bureau), None)
        if row is None:
            self.fail(f"{name}: no digest for bureau {bureau} in the issued month")
        elif row[2] != got or int(row[1]) != n:
            self.fail(f"{name}: bureau {bureau}'s lines differ from the issued month")

    # 4 ---------------------------------------------------------------------------------
    def check_lines(self) -> Decimal:
        import yaml  # the one declared dependency (requirements.txt)

        policy_text = (self.dir / "policy.yaml").read_text(encoding="utf-8")
        policy = yaml.safe_load(policy_text)
        tz = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has no DST
        versions = sorted(policy["versions"], key=lambda v: str(v["effective_from"]))
        hours: dict[str, list[dict]] = defaultdict(list)
        ucols, urows = read_csv(self.dir / "usage_hourly.csv")
        for r in urows:
            d = dict(zip(ucols, r, strict=True))
            hours[d["vm_id"]].append(d)
        cols, rows = read_csv(self.dir / "bill_lines.csv")
        total = Decimal("0.00")
        only = self.manifest["scope"].get("provider")
        for n, r in enumerate(rows, start=2):
            line = dict(zip(cols, r, strict=True))
            if only is None or line["provider"] == only:
                total += Decimal(line["after_cut"])
            where = f"bill_lines.csv row {n} ({line['vm_id']} {line['day']} {line['resource']})"
            day = dt.date.fromisoformat(line["day"])
            ver = [v for v in versions if dt.date.fromisoformat(str(v["effective_from"])) <= day]
            if not ver:
                self.fail(f"{where}: no policy version in force")
                continue
            version = ver[-1]
            if str(version["version"]) != line["tariff_version"]:
                self.fail(f"{where}: tariff version {line['tariff_version']}, policy says "
                          f"{version['version']}")  # fmt: skip
            prov = next(p for p in version["providers"] if p["id"] == line["provider"])
            pool = next(p for p in prov["pools"] if p["id"] == line["pool"])
            res = line["resource"]
            if f"{res}_hour" in pool["prices"]:
                price, divisor = Decimal(str(pool["prices"][f"{res}_hour"])), 1
            else:
                price = Decimal(str(pool["prices"][f"{res}_month"]))
                divisor = int(version.get("hours_per_month", 720))
            tender = Decimal(str(pool.get("tender_discount", prov["tender_discount"])))
            t0 = dt.datetime.combine(day, dt.time(), tz)
            t1 = t0 + dt.timedelta(days=1)
            bill_gaps = version.get("bill_unmetered_hours", True)
            q_e7 = 0
            for h in hours[line["vm_id"]]:
                at = dt.datetime.fromtimestamp(int(h["hour"]), UTC)
                if (
                    not (t0 <= at < t1)
                    or h["provider"] != line["provider"]
                    or h["pool"] != line["pool"]
                ):
                    continue
                unmetered = h["cpu_avg"] == "null" or h["mem_avg"] == "null"
                if unmetered and not bill_gaps:
                    continue
                a4 = math.floor(float(h["alloc_fraction"]) * 10000 + 0.5)
                units_e3 = int(Decimal(h[UNIT_COLUMNS[res]]) * 1000)
                q_e7 += units_e3 * a4
            quantity = Decimal(q_e7) / Decimal(10**7)
            if quantity != Decimal(line["quantity"]):
                self.fail(f"{where}: quantity {line['quantity']}, rollups give {quantity}")
            clause = prov.get("low_utilization") or version.get("low_utilization")
            cut = False
            if (
                clause
                and clause.get("enabled", True)
                and res in clause.get("applies_to", ["vcpu", "memory"])
            ):
                cut = self._low(clause, hours[line["vm_id"]], day, tz)
            with localcontext() as ctx:
                ctx.prec = 80
                exact = quantity * price / divisor
                amounts = [half_up(exact), half_up(exact * tender)]
                keep = 1 - Decimal(str(clause["price_cut"])) if cut else Decimal(1)
                amounts.append(half_up(exact * tender * keep))
            for name, want in zip(
                ("list_amount", "after_discount", "after_cut"), amounts, strict=True
            ):
                if Decimal(line[name]) != want:
                    self.fail(f"{where}: {name} {line[name]}, re-derived {want}")
        return total

    def _low(self, clause: dict, vm_hours: list[dict], day: dt.date, tz: dt.tzinfo) -> bool:
        """The low-utilization test of the line's day or calendar month (metered hours only)."""
        if clause.get("period", "month") == "day":
            start = dt.datetime.combine(day, dt.time(), tz)
            end = start + dt.timedelta(days=1)
        else:
            first = day.replace(day=1)
            nxt = (first + dt.timedelta(days=32)).replace(day=1)
            start, end = (dt.datetime.combine(d, dt.time(), tz) for d in (first, nxt))
        daytime = clause.get("basis", "daytime_weighted") == "daytime_weighted"
        figures = {}
        for m in ("cpu", "mem"):
            w = x = 0.0
            n = 0
            for h in vm_hours:
                at = dt.datetime.fromtimestamp(int(h["hour"]), UTC)
                if not (start <= at < end) or h[f"{m}_avg"] == "null":
                    continue
                weight = float(h["business_weight"]) if daytime else 1.0
                w += weight
                x += weight * float(h[f"{m}_avg"])
                n += 1 if (weight > 0 if daytime else True) else 0
            ok = n >= int(clause.get("min_metered_hours", 1)) and w > 0
            figures[m] = math.floor(x / w * 100 + 0.5) / 100 if ok else None
        th = float(clause["threshold_pct"])
        cpu, mem = figures["cpu"], figures["mem"]
        metric = clause.get("metric", "cpu_and_mem")
        if metric == "cpu":
            return cpu is not None and cpu < th
        if metric == "mem":
            return mem is not None and mem < th
        if metric == "cpu_and_mem":
            return cpu is not None and mem is not None and cpu < th and mem < th
        return (cpu is not None and cpu < th) or (mem is not None and mem < th)

    # 5 ---------------------------------------------------------------------------------
    def check_statement(self, lines_total: Decimal) -> None:
        st = json.loads((self.dir / "statement.json").read_text(encoding="utf-8"))
        if Decimal(st["lines_total"]) != lines_total:
            self.fail(f"statement: lines total {st['lines_total']}, Σ lines = {lines_total}")
        if st.get("net") is not None:
            original = Decimal(st["original"])
            net = original + sum((Decimal(c["amount"]) for c in st["corrections"]), Decimal(0))
            if net != Decimal(st["net"]):
                self.fail(f"statement: original + corrections = {net}, net says {st['net']}")
            if Decimal(st["net"]) != lines_total:
                self.fail(f"statement: net {st['net']} differs from Σ issued lines {lines_total}")

    def check_policy(self, entries: list[dict]) -> None:
        sha = sha256_file(self.dir / "policy.yaml")
        if not any(e["kind"] == "policy_activated" and e["subject"].get("sha256") == sha
                   for e in entries):  # fmt: skip
            self.fail("policy.yaml: not a version the ledger shows as activated")

    # 6 ---------------------------------------------------------------------------------
    def check_samples(self) -> None:
        _, drows = read_csv(self.dir / "sample_digests.csv")
        want = {(r[0], r[1]): (int(r[2]), r[3]) for r in drows}
        ucols, urows = read_csv(self.dir / "usage_hourly.csv")
        tz = dt.timezone(dt.timedelta(hours=8))
        counted: dict[tuple[str, str], int] = defaultdict(int)
        for r in urows:
            d = dict(zip(ucols, r, strict=True))
            day = dt.datetime.fromtimestamp(int(d["hour"]), tz).date().isoformat()
            counted[(d["vm_id"], day)] += int(d["samples"])
        for key, n in counted.items():
            if n and want.get(key, (0, ""))[0] != n:
                self.fail(f"sample_digests.csv {key}: {want.get(key, (0,))[0]} raw samples, "
                          f"rollups count {n}")  # fmt: skip
        raw = self.dir / "samples.csv"
        if not raw.exists():
            return
        _, srows = read_csv(raw)
        by_day: dict[tuple[str, str], list[str]] = defaultdict(list)
        for r in srows:
            day = dt.datetime.fromtimestamp(int(r[1]), tz).date().isoformat()
            by_day[(r[0], day)].append(canonical_row(r))
        for key, texts in by_day.items():
            if want.get(key) != (len(texts), digest(texts)):
                self.fail(f"samples.csv {key}: raw samples differ from their digest")

    # invoice packs ---------------------------------------------------------------------
    def check_proofs(self, entries: list[dict]) -> None:
        """Each entry the pack proves: its parts, read from their CSV files, hash to it."""
        proofs = json.loads((self.dir / "proofs.json").read_text(encoding="utf-8"))["proofs"]
        by_seq = {e["seq"]: e for e in entries}
        for proof in proofs:
            parts = []
            for p in proof["parts"]:
                cols, rows = read_csv(self.dir / p["file"])
                parts.append((p["name"], cols, rows))
            entry = by_seq.get(proof["seq"])
            if entry is None or content_hash(parts) != entry["content_hash"]:
                self.fail(f"entry {proof['seq']} ({proof['kind']}): the files do not hash to it")

    def check_invoice(self) -> None:
        """The invoice's own arithmetic: Σ lines = billed total = Σ verification totals."""
        hcols, hrows = read_csv(self.dir / "invoice.csv")
        header = dict(zip(hcols, hrows[0], strict=True))
        lcols, lrows = read_csv(self.dir / "invoice_lines.csv")
        amount = lcols.index("amount")
        lines_total = sum((Decimal(r[amount]) for r in lrows), Decimal(0))
        if lines_total != Decimal(header["billed_total"]):
            self.fail(f"invoice: Σ lines {lines_total} ≠ billed total {header['billed_total']}")
        totals = self.dir / "verification_totals.csv"
        if totals.exists():
            tcols, trows = read_csv(totals)
            billed = sum((Decimal(r[tcols.index("billed")]) for r in trows), Decimal(0))
            if billed != lines_total:
                self.fail(f"verification: Σ billed {billed} ≠ Σ invoice lines {lines_total}")

    def run(self) -> list[str]:
        self.check_files()
        entries = self.check_chain()
        if self.manifest["scope"].get("invoice"):
            self.check_proofs(entries)
            self.check_invoice()
            return self.problems
        self.check_policy(entries)
        self.check_month_entry(entries)
        total = self.check_lines()
        self.check_statement(total)
        self.check_samples()
        return self.problems


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else ".")
    problems = Pack(folder).run()
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        print(f"{len(problems)} problem(s): this pack does NOT verify")
        return 1
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    print(f"OK: every line re-derived and every hash checked; ledger head {m['ledger_head']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
