"""``cloudtally availability``: availability from the meter, SLA credits, fault reports.

cloudtally availability report --month 2023-03 --by pool
cloudtally availability report --fiscal-year 2023 --by system --bureau edu
cloudtally availability credits --month 2023-03 [--write]
cloudtally availability faults import report.xlsx --provider provider-a
cloudtally availability faults check --month 2023-03
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudtally.billing.cli import PolicyOpt, _store, resolve_policy
from cloudtally.core.policy import Policy

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
faults_app = typer.Typer(no_args_is_help=True, help="Providers' fault reports.")
app.add_typer(faults_app, name="faults")

Month = Annotated[str | None, typer.Option("--month", help="YYYY-MM (local month)")]
FiscalYear = Annotated[int | None, typer.Option("--fiscal-year", help="fiscal year label")]


def _span(policy: Policy, month: str | None, fiscal_year: int | None) -> tuple[int, int]:
    from cloudtally.evaluation.availability import fiscal_year_span, month_span

    if (month is None) == (fiscal_year is None):
        typer.echo("give exactly one of --month or --fiscal-year", err=True)
        raise typer.Exit(2)
    if month is not None:
        try:
            return month_span(policy, dt.date.fromisoformat(month + "-01"))
        except ValueError:
            typer.echo(f"--month: expected YYYY-MM, got {month!r}", err=True)
            raise typer.Exit(2) from None
    assert fiscal_year is not None
    return fiscal_year_span(policy, fiscal_year)


def _echo(doc: Any) -> None:
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


@app.command("report")
def report_cmd(
    month: Month = None,
    fiscal_year: FiscalYear = None,
    by: Annotated[str, typer.Option(help="vm, system, bureau, pool, provider or all")] = "pool",
    bureau: Annotated[str | None, typer.Option(help="only VMs this bureau owned")] = None,
    pool: str | None = None,
    provider: str | None = None,
    as_json: Annotated[bool, typer.Option("--json", help="the API's document")] = False,
    policy_file: PolicyOpt = None,
) -> None:
    """Availability per month and over the period, against the policy's targets."""
    from cloudtally.evaluation.availability import Scope, report

    if by not in ("vm", "system", "bureau", "pool", "provider", "all"):
        typer.echo(f"--by: unknown {by!r}", err=True)
        raise typer.Exit(2)
    policy = resolve_policy(policy_file)
    t0, t1 = _span(policy, month, fiscal_year)
    with _store() as store:
        doc = report(
            store, policy, Scope(t0, t1, bureau=bureau, pool=pool, provider=provider), by=by
        )
    if as_json:
        _echo(doc)
        return
    from cloudtally.i18n import cli_lang, translate

    _ = translate(cli_lang())
    verdicts = {True: "meets", False: "below", None: "no_data"}
    for row in doc["period"]:
        t = row.get("target") or {}
        line = _("cli.out.availability", group=row[by] or _("cli.out.all"),
                 pct=row["availability_pct"], coverage=row["coverage_pct"],
                 incidents=row["incidents"], minutes=row["down_s"] // 60)  # fmt: skip
        if t:
            verdict = _(f"cli.out.target.{verdicts[t.get('met')]}")
            line += _("cli.out.target", target=t["target_pct"], verdict=verdict)
        typer.echo(line)
    for i in doc.get("incidents", [])[:50]:
        start = dt.datetime.fromtimestamp(i["start"], policy.zone)
        typer.echo(_("cli.out.incident", vm_id=i["vm_id"], start=f"{start:%Y-%m-%d %H:%M}",
                     minutes=i["duration_s"] // 60, cause=i["cause"]))  # fmt: skip


@app.command("credits")
def credits_cmd(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    write: Annotated[bool, typer.Option(help="write provisional sla_credit lines")] = False,
    policy_file: PolicyOpt = None,
) -> None:
    """SLA credits due for a month (closing the month writes them final)."""
    from cloudtally.evaluation.credits import accrue_credits, month_credits

    policy = resolve_policy(policy_file)
    first = dt.date.fromisoformat(month + "-01")
    with _store() as store:
        rows = [r.as_row() for r in month_credits(store, policy, first)]
        if write:
            accrue_credits(store, policy, first)
    from cloudtally.i18n import cli_lang, translate
    from cloudtally.i18n.sla import credit_sentence

    _ = translate(lang := cli_lang())
    if not rows:
        typer.echo(_("cli.out.no_credit_rule"))
    for r in rows:
        typer.echo(_("cli.out.credit", month=r["month"][:7], provider=r["provider"],
                     amount=r["amount"], derivation=credit_sentence(r, lang)))  # fmt: skip


@faults_app.command("import")
def faults_import(
    file: Path,
    provider: Annotated[str, typer.Option(help="provider id (policy)")],
    policy_file: PolicyOpt = None,
) -> None:
    """Import a fault report (CSV/XLSX); rejected rows are printed; exit 2 if any."""
    from cloudtally.evaluation.faults import FaultImportError, import_file
    from cloudtally.i18n import cli_lang, translate
    from cloudtally.i18n.reasons import fault_rejection, of_error

    policy = resolve_policy(policy_file)
    _ = translate(lang := cli_lang())
    with _store() as store:
        try:
            out = import_file(store, policy, file, provider=provider)
        except FaultImportError as exc:
            typer.echo(_("cli.out.fault_file_refused", reason=of_error(exc, lang)), err=True)
            raise typer.Exit(2) from None
    for r in (fault_rejection(r, lang) for r in out["rejections"]):
        typer.echo(_("cli.out.fault_rejected", row=r["row"], column=r["column_text"],
                     reason=r["reason"]), err=True)  # fmt: skip
    typer.echo(_("cli.out.fault_imported", file=out["file_name"], imported=out["imported"],
                 rejected=out["rejected"]))  # fmt: skip
    if out["rejected"]:
        raise typer.Exit(2)


@faults_app.command("check")
def faults_check(
    month: Month = None,
    fiscal_year: FiscalYear = None,
    provider: str | None = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    policy_file: PolicyOpt = None,
) -> None:
    """Timeliness breaches and the cross-check with metered downtime."""
    from cloudtally.evaluation.faults import fault_report

    policy = resolve_policy(policy_file)
    t0, t1 = _span(policy, month, fiscal_year)
    with _store() as store:
        doc = fault_report(store, policy, t0, t1, provider=provider)
    if as_json:
        _echo(doc)
        return
    from cloudtally.i18n import cli_lang, translate

    _ = translate(cli_lang())
    s = doc["summary"]
    typer.echo(_("cli.out.faults_summary", faults=s["faults"], breaches=s["breaches"],
                 checks=s["checks"], unmatched=s["faults_without_metered_downtime"],
                 unreported=s["metered_downtime_without_report"]))  # fmt: skip
    for f in doc["faults"]:
        for c in f["checks"]:
            if c["status"] == "breach":
                typer.echo(_("cli.out.fault_breach", fault_id=f["fault_id"], check=c["check"],
                             limit=c["limit"], deadline=c["deadline"],
                             actual=c["actual"] or _("cli.out.none")))  # fmt: skip
