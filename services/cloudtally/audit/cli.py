"""``cloudtally audit``: verify the ledger, read it, issue restatements, write evidence packs.

cloudtally audit verify                 # exit 1 and name the first broken entry
cloudtally audit log --limit 20
cloudtally audit pack --bureau edu --month 2026-10 [--raw] --out pack.zip
cloudtally audit restate --month 2026-10 --reason "late data" --reference INC-42
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _store():  # type: ignore[no-untyped-def]
    from cloudtally.settings import get_settings
    from cloudtally.store import open_store

    s = get_settings()
    return open_store(s.resolved_store_url, s.database)


def _month(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(f"{text}-01" if len(text) == 7 else text).replace(day=1)
    except ValueError:
        raise typer.BadParameter(f"not a month (YYYY-MM): {text!r}") from None


@app.command()
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="also check this policy file was activated")
    ] = None,
) -> None:
    """Recompute every ledger hash from the rows in the store; exit 1 on any mismatch."""
    from cloudtally.audit.ledger import verify as run
    from cloudtally.settings import get_settings

    with _store() as store:
        report = run(store, policy_file=policy or get_settings().policy_file)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    else:
        typer.echo(f"ledger: {report.entries} entries, head {report.head or '(empty)'}, "
                   f"checked in {report.seconds:.2f} s")  # fmt: skip
        for p in sorted(report.problems, key=lambda p: p.seq):
            typer.echo(f"  entry {p.seq}: {p.code}: {p.message}")
        first = report.first.seq if report.first else "?"
        verdict = "OK: every entry matches its rows" if report.ok else f"FAILED at entry {first}"
        typer.echo(verdict)
    raise typer.Exit(0 if report.ok else 1)


@app.command("log")
def log_cmd(
    limit: Annotated[int, typer.Option(help="newest N entries")] = 20,
    kind: Annotated[str | None, typer.Option(help="only this kind")] = None,
) -> None:
    """The newest ledger entries: seq, when, kind, who, why, content hash."""
    from cloudtally.audit.ledger import entries

    with _store() as store:
        rows = entries(store, kind=kind)[-limit:]
    for e in rows:
        at = dt.datetime.fromtimestamp(e.at, dt.UTC).isoformat(timespec="seconds")
        subject = ", ".join(f"{k}={v}" for k, v in e.subject.items() if k != "columns")
        typer.echo(f"{e.seq:>6} {at} {e.kind:<17} {e.actor:<12} {subject} — {e.reason} "
                   f"[{e.content_hash[:12]}… → {e.entry_hash[:12]}…]")  # fmt: skip


@app.command()
def pack(
    out: Annotated[Path, typer.Option(help="the .zip to write")],
    month: Annotated[str | None, typer.Option(help="YYYY-MM (bureau or provider packs)")] = None,
    bureau: Annotated[str | None, typer.Option(help="a bureau's pack")] = None,
    provider: Annotated[str | None, typer.Option(help="a provider's pack")] = None,
    invoice: Annotated[str | None, typer.Option(help="an invoice and its verification")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="include the raw samples")] = False,
) -> None:
    """Write a self-verifying evidence pack: a bureau's or provider's month, or an invoice."""
    from cloudtally.audit.pack import build, build_invoice

    if invoice is not None:
        with _store() as store:
            info = build_invoice(store, invoice, out)
        typer.echo(f"wrote {info['path']}: {info['entries']} ledger entries proved; "
                   f"ledger head {info['ledger_head']}")  # fmt: skip
        return
    if (bureau is None) == (provider is None) or month is None:
        raise typer.BadParameter("give --month and exactly one of --bureau, --provider")
    with _store() as store:
        info = build(store, _month(month), out, bureau=bureau, provider=provider, raw=raw)
    typer.echo(f"wrote {info['path']}: {info['lines']} bill lines of {info['vms']} VMs; "
               f"ledger head {info['ledger_head']}")  # fmt: skip
    typer.echo(f"verify: unzip it, then run verify_pack.py inside {info['folder']}/ (README.txt)")


@app.command()
def restate(
    month: Annotated[str, typer.Option(help="YYYY-MM, a closed month")],
    reason: Annotated[str, typer.Option(help="why the issued month changes")],
    reference: Annotated[str, typer.Option(help="what caused it (ticket, dispute, run)")] = "",
    actor: Annotated[str, typer.Option(help="who issues it")] = "cli",
) -> None:
    """Issue a restatement (红冲) of a closed month from its current bill lines."""
    from cloudtally.audit.issue import IssueError, issued_statement
    from cloudtally.billing.cli import resolve_policy
    from cloudtally.billing.rate import close_month

    first = _month(month)
    with _store() as store:
        try:
            close_month(store, resolve_policy(None), first, actor=actor, reason=reason,
                        reference=reference)  # fmt: skip
        except IssueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        st = issued_statement(store, first)
    typer.echo(f"{st['month']}: revision {st['revision']}; original {st['original']:.2f}, "
               f"net {st['net']:.2f} CNY; ledger head {st['ledger_head']}")  # fmt: skip
