"""``cloudtally invoices``: import, verify, findings/exports and sample invoices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cloudtally.i18n import cli_lang, term, translate
from cloudtally.i18n.findings import render_row
from cloudtally.i18n.reasons import of_error, row_line

PROGRESS_FROM_BYTES = 1 << 20  # files this large show import progress unless told not to

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _store():  # type: ignore[no-untyped-def]
    from cloudtally.settings import get_settings
    from cloudtally.store import open_store
    from cloudtally.store.migrate import migrate

    s = get_settings()
    store = open_store(s.resolved_store_url, s.database)
    migrate(store)
    return store


def _period(text: str) -> tuple[dt.datetime, dt.datetime] | None:
    if not text:
        return None
    from zoneinfo import ZoneInfo

    from cloudtally.core.invoice import PeriodParser

    return PeriodParser(ZoneInfo("Asia/Shanghai")).period(text)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="invoice file (CSV, XLSX or FOCUS CSV)")],
    provider: Annotated[str, typer.Option(help="provider id (as in the tariff)")],
    mapping: Annotated[Path | None, typer.Option(help="column mapping (YAML/JSON)")] = None,
    format: Annotated[str, typer.Option(help="csv | xlsx | focus")] = "",
    period: Annotated[
        str, typer.Option(help="billing period, e.g. 2024-01 (default: inferred)")
    ] = "",
    verify: Annotated[bool, typer.Option(help="verify right after importing")] = False,
    exchange_rate: Annotated[
        str,
        typer.Option(
            help="CNY per unit of the invoice's currency (e.g. 7.1234); an invoice not in CNY "
            "is refused without it"
        ),
    ] = "",
    progress: Annotated[
        bool | None,
        typer.Option(help="report progress on stderr (default: for files over 1 MiB)"),
    ] = None,
) -> None:
    """Import an invoice whole or not at all; the same file twice returns the first import.

    A mapping for another provider than --provider is refused (as the API refuses it).
    """
    from cloudtally.core.invoice import InvoiceError, money_text
    from cloudtally.invoices.importer import ImportRejected, import_invoice, resolve_mapping

    fmt = format or ("xlsx" if file.suffix.lower() in (".xlsx", ".xlsm") else None)
    rate = _rate(exchange_rate)
    try:  # a bad or foreign mapping is refused before the store is opened
        resolved = resolve_mapping(provider, fmt, mapping)
    except InvoiceError as exc:
        _rejected(exc)
    size = file.stat().st_size if file.is_file() else 0

    def report(rows: int, read: int) -> None:
        share = f" ({100 * read / size:.0f} %)" if size and read else ""
        said = translate(cli_lang())(
            "cli.out.importing", rows=f"{rows:,}", read=f"{read:,}", size=f"{size:,}", share=share
        )
        typer.echo(said, err=True)

    if progress is None:
        progress = size > PROGRESS_FROM_BYTES

    with _store() as store:
        try:
            res = import_invoice(
                store,
                file,
                provider=provider,
                mapping=resolved,
                fmt=fmt,
                billing_period=_period(period),
                exchange_rate=rate,
                progress=report if progress else None,
            )
        except ImportRejected as exc:
            lines = [f"  {row_line(e, cli_lang())}" for e in exc.errors[:50]]
            _rejected(exc, lines)
        except InvoiceError as exc:
            _rejected(exc)
        _ = translate(cli_lang())
        converted = (
            _("cli.out.converted", currency=res.source_currency, rate=res.exchange_rate)
            if res.source_currency
            else ""
        )
        typer.echo(
            _(
                "cli.out.imported",
                status=term("import.job", res.status, cli_lang()),
                invoice_id=res.invoice_id,
                rows=res.rows,
                billed=money_text(res.billed_total),
                converted=converted,
            )
        )
        if verify:
            _verify(store, res.invoice_id)


def _rejected(exc: Exception, lines: list[str] | None = None) -> NoReturn:
    """Why nothing was imported, in the CLI's language (exit 2)."""
    lang = cli_lang()
    typer.echo(translate(lang)("import.rejected", reason=of_error(exc, lang)), err=True)
    for line in lines or []:
        typer.echo(line, err=True)
    raise typer.Exit(2)


def _rate(text: str) -> Decimal | None:
    from cloudtally.core.invoice import parse_exchange_rate

    try:
        return parse_exchange_rate(text) if text else None
    except ValueError as exc:
        raise typer.BadParameter(of_error(exc, cli_lang())) from None


def _verify(store, invoice_id: str) -> None:  # type: ignore[no-untyped-def]
    from cloudtally.core.invoice import money_text as m
    from cloudtally.invoices.service import verify_invoice

    run = verify_invoice(store, invoice_id)
    said = translate(cli_lang())(
        "cli.out.verified", invoice_id=invoice_id, run_id=run["run_id"], lines=run["lines"],
        findings=run["findings"], billed=m(run["billed_total"]),
        verified=m(run["verified_total"]), over=m(run["over_total"]),
        under=m(run["under_total"]), unverified=m(run["unverified_total"]),
    )  # fmt: skip
    typer.echo(said)


@app.command()
def verify(invoice_id: str) -> None:
    """Verify an imported invoice against metered usage and the contract tariff."""
    with _store() as store:
        try:
            _verify(store, invoice_id)
        except LookupError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None


@app.command()
def findings(
    invoice_id: str,
    format: Annotated[str, typer.Option(help="table | csv | xlsx | html")] = "table",
    out: Annotated[Path | None, typer.Option(help="output file (csv/xlsx/html)")] = None,
    bureau: Annotated[str | None, typer.Option(help="only this bureau's findings")] = None,
    kind: Annotated[str | None, typer.Option(help="only this kind")] = None,
    rule: Annotated[str | None, typer.Option(help="only this rule id")] = None,
    zh: Annotated[bool, typer.Option(help="Chinese headers and report (--no-zh: English)")] = True,
) -> None:
    """Findings of the latest verification run, listed or exported."""
    from cloudtally.core.invoice import money_text as m
    from cloudtally.invoices import report
    from cloudtally.invoices import store as inv_store

    with _store() as store:
        rows = inv_store.findings(store, invoice_id, bureau=bureau, kind=kind, rule_id=rule)
        summary = inv_store.summary(store, invoice_id, bureau=bureau)
    lang = cli_lang()
    if format == "table":
        _ = translate(lang)
        for r in rows:
            numbers = _("cli.out.rows", rows=",".join(map(str, r["line_numbers"])) or "-")
            typer.echo(
                f"{r['seq']:>5} {r['rule_id']:<3} {m(r['amount_at_stake']):>12} "
                f"{numbers:<10} {r['resource_id']:<20} {render_row(r, lang)}"
            )
        typer.echo(
            _("cli.out.totals", billed=m(summary["billed_total"]),
              verified=m(summary["verified_total"]), over=m(summary["over_total"]),
              under=m(summary["under_total"]), unverified=m(summary["unverified_total"]))
        )  # fmt: skip
        return
    if format == "csv":
        data = report.findings_csv(rows, zh=zh)
    elif format == "xlsx":
        data = report.findings_xlsx(rows, summary, zh=zh)
    elif format == "html":
        data = report.html_report(summary, rows, zh=zh).encode("utf-8")
    else:
        raise typer.BadParameter("format must be table, csv, xlsx or html")
    target = out or Path(f"{invoice_id}-findings.{format}")
    target.write_bytes(data)
    typer.echo(translate(lang)("cli.out.wrote_findings", n=len(rows), target=target))


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="file to write")],
    form: Annotated[str, typer.Option(help="provider (Chinese CSV) | xlsx | focus")] = "provider",
    provider: Annotated[str, typer.Option(help="provider id")] = "provider-a",
    period: Annotated[str, typer.Option(help="month, e.g. 2024-01")] = "2024-01",
    from_store: Annotated[
        bool, typer.Option(help="expected charges from the store's bill lines")
    ] = False,
    vms: Annotated[int, typer.Option(help="simulated fleet size (without --from-store)")] = 200,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    errors: Annotated[str, typer.Option(help="rules to plant, comma separated, or 'all'")] = "",
    encoding: Annotated[str, typer.Option(help="utf-8-sig | gb18030 (provider CSV)")] = "utf-8-sig",
) -> None:
    """Write a sample invoice, clean or with planted errors (the planted list is printed)."""
    from cloudtally.invoices import generator as g

    per = _period(period)
    assert per is not None
    credits: list = []  # type: ignore[type-arg]
    if from_store:
        from cloudtally.invoices.store import load_expected

        with _store() as store:
            exp, lifecycle, credits = load_expected(store, provider, per)
    else:
        exp, lifecycle = g.simulate_fleet(
            seed=seed,
            vms=vms,
            provider=provider,
            month=(per[0].astimezone(g.SH).year, per[0].astimezone(g.SH).month),
        )
    wanted = g.ALL_ERRORS if errors == "all" else tuple(x for x in errors.split(",") if x)
    lines, planted = g.generate_invoice(
        exp,
        lifecycle,
        errors=wanted,
        credits=credits,
        form="focus" if form == "focus" else "provider",
        seed=seed,
    )
    if form == "focus":
        data = g.render_focus_csv(lines, provider=provider, billing_period=per)
    elif form == "xlsx":
        data = g.render_provider_xlsx(lines)
    else:
        data = g.render_provider_csv(lines, encoding=encoding)
    out.write_bytes(data)
    from cloudtally.core.invoice import money_text

    total = sum((ln.amount for ln in lines), Decimal(0))
    typer.echo(f"wrote {len(lines)} lines, billed {money_text(total)}, to {out}")
    for p in planted:
        typer.echo(
            f"  planted {p.rule_id} rows={list(p.line_numbers)} "
            f"at_stake={money_text(p.amount_at_stake)} {p.resource_id} ({p.note})"
        )


@app.command("list")
def list_() -> None:
    """Imported invoices."""
    from cloudtally.core.invoice import money_text
    from cloudtally.invoices import store as inv_store

    with _store() as store:
        for inv in inv_store.list_invoices(store):
            typer.echo(
                f"{inv['invoice_id']} {inv['provider']} "
                f"{inv['billing_period_start']:%Y-%m-%d} rows={inv['row_count']} "
                f"billed={money_text(inv['billed_total'])} {inv['status']}"
            )
