"""``cloudtally billing``: validate a tariff, rate or re-rate a period, close a month, export.

The policy file is ``--policy`` or ``CLOUDTALLY_POLICY_FILE``; without either,
the packaged example tariff (``cloudtally/policy/example.yaml``) is used.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from cloudtally.core.policy import Policy, PolicyError, json_document, json_schema, load_policy
from cloudtally.i18n import cli_lang, translate
from cloudtally.i18n.validation import policy_lines
from cloudtally.policy import example_policy_text

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
policy_app = typer.Typer(no_args_is_help=True, help="Tariff/policy files.")
app.add_typer(policy_app, name="policy")

PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", help="tariff/policy YAML (default: settings, example)")
]


def resolve_policy(path: Path | None) -> Policy:
    """The policy to use: explicit path, then settings, then the packaged example."""
    from cloudtally.settings import get_settings

    chosen = path or get_settings().policy_file
    try:
        return load_policy(chosen) if chosen else load_policy(example_policy_text())
    except PolicyError as exc:
        for e in policy_lines(exc, cli_lang()):
            typer.echo(f"{chosen}: {e}", err=True)
        raise typer.Exit(2) from None


def _store():  # type: ignore[no-untyped-def]
    from cloudtally.settings import get_settings
    from cloudtally.store import open_store

    s = get_settings()
    return open_store(s.resolved_store_url, s.database)


def _instant(text: str, policy: Policy) -> dt.datetime:
    """ISO date or datetime; naive values are in the policy timezone."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=policy.zone)


@policy_app.command("validate")
def validate(file: Path) -> None:
    """Validate a policy file (pydantic model and JSON Schema); exit 2 on errors."""
    import jsonschema

    text = file.read_text(encoding="utf-8")
    try:
        policy = load_policy(text)
    except PolicyError as exc:
        for e in policy_lines(exc, cli_lang()):
            typer.echo(f"{file}: {e}", err=True)
        raise typer.Exit(2) from None
    schema = json_schema()
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json_document(text)))
    for e in errors:
        typer.echo(f"{file}: schema: {e.json_path}: {e.message}", err=True)
    if errors:
        raise typer.Exit(2)
    _ = translate(cli_lang())
    spans = ", ".join(
        _("cli.out.policy_span", version=v.version, start=v.effective_from) for v in policy.versions
    )
    typer.echo(_("cli.out.policy_ok", file=file, name=policy.name, n=len(policy.versions),
                 spans=spans))  # fmt: skip
    known = sorted(policy.official.years)
    supplied = ", ".join(str(y) for y in sorted(policy.official_calendar)) or _("cli.out.none")
    typer.echo(_("cli.out.official_calendar", first=known[0], last=known[-1], supplied=supplied))


@app.command("rate")
def rate_cmd(
    from_: Annotated[str, typer.Option("--from", help="start (ISO date/time, local if naive)")],
    to: Annotated[str, typer.Option("--to", help="end, exclusive")],
    rerate: Annotated[bool, typer.Option(help="record as a re-rate on request")] = False,
    reason: Annotated[str, typer.Option(help="why (required with --rerate)")] = "",
    actor: Annotated[str, typer.Option(help="who asks")] = "",
    vm: Annotated[list[str] | None, typer.Option(help="only these VMs (repeatable)")] = None,
    policy_file: PolicyOpt = None,
) -> None:
    """Rate (or re-rate) a period into bill lines, with a progress bar."""
    from rich.progress import Progress

    from cloudtally.billing.rate import rate_period

    policy = resolve_policy(policy_file)
    if rerate and not reason:
        typer.echo("--rerate needs --reason", err=True)
        raise typer.Exit(2)
    t0, t1 = _instant(from_, policy), _instant(to, policy)
    with _store() as store, Progress() as bar:
        task = bar.add_task("rating", total=max(1, (t1 - t0).days))

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=stage)

        s = rate_period(
            store, policy, t0, t1, vm_ids=vm, run_kind="rerate" if rerate else "stream",
            reason=reason, actor=actor, progress=progress, chunk_days=1,
        )  # fmt: skip
    typer.echo(
        f"run {s.run_id}: {s.line_count} lines, {s.vm_days} VM-days, {s.vm_hours} VM-hours, "
        f"total {s.total} CNY (was {s.previous_total}); versions {', '.join(s.tariff_versions)}"
    )
    if s.unpriced:
        typer.echo(f"warning: {len(s.unpriced)} usage rows had no price", err=True)


@app.command("close-month")
def close_month_cmd(
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    actor: Annotated[str, typer.Option()] = "",
    reason: Annotated[str, typer.Option(help="needed to close an issued month again")] = "",
    reference: Annotated[str, typer.Option(help="what caused a restatement")] = "",
    policy_file: PolicyOpt = None,
) -> None:
    """Write the month's final provider-level lines (volume tiers) and issue the month.

    Closing an issued month again is a restatement (红冲): it needs --reason (docs/audit.md).
    """
    from cloudtally.audit.issue import IssueError
    from cloudtally.billing.rate import close_month

    policy = resolve_policy(policy_file)
    first = dt.date.fromisoformat(month + "-01")
    with _store() as store:
        try:
            rows = close_month(store, policy, first, actor=actor, reason=reason,
                               reference=reference)  # fmt: skip
        except IssueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
    for r in rows:
        kind = r.get("kind", "volume_tier").replace("_", " ")
        typer.echo(f"{first:%Y-%m} {r['provider']}: fee {r['fee']} {kind} {r['amount']}")


@app.command("statement")
def statement_cmd(
    month: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    fy: Annotated[int | None, typer.Option(help="fiscal year, e.g. 2023")] = None,
    by: Annotated[str, typer.Option(help="provider|pool|bureau|system")] = "provider",
    bureau: Annotated[str | None, typer.Option(help="restrict to one bureau")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table|csv|xlsx")] = "table",
    out: Annotated[Path | None, typer.Option(help="output file (required for xlsx)")] = None,
    lang: Annotated[
        str | None, typer.Option(help="zh|en (default: CLOUDTALLY_LANG, else zh)")
    ] = None,
    policy_file: PolicyOpt = None,
) -> None:
    """Monthly or fiscal-year statement, as a table, CSV or XLSX."""
    from cloudtally.billing import statements as st

    policy = resolve_policy(policy_file)
    m = dt.date.fromisoformat(month + "-01") if month else None
    from cloudtally.audit.issue import issued_statement, ledger_row
    from cloudtally.audit.ledger import head_hash
    from cloudtally.i18n import cli_lang, term, translate

    with _store() as store:
        s = st.statement(store, policy, month=m, fiscal_year=fy, by=by, bureau=bureau)
        issued = issued_statement(store, m, bureau=bureau) if m else None
        head = head_hash(store)
    lang = cli_lang(lang)
    keys, body = st.statement_table(s, lang)
    body = [*body, ledger_row(keys, head, issued, lang)]
    if fmt == "xlsx":
        if out is None:
            typer.echo("--format xlsx needs --out", err=True)
            raise typer.Exit(2)
        st.to_xlsx(keys, body, out, lang=lang, title=s.title)
        typer.echo(f"wrote {out}")
    elif fmt == "csv":
        text = st.to_csv(keys, body, lang=lang)
        if out:
            out.write_text(text, encoding="utf-8-sig")
        else:
            typer.echo(text, nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=translate(lang)(
                "statement.title", title=s.title, by=term("dimension", s.by, lang)
            )
        )
        for h in st.header_names(keys, lang):
            table.add_column(h)
        for row in body:
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)
