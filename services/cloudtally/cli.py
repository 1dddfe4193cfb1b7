"""The ``cloudtally`` command: one subcommand per process or task.

Each subcommand imports its module lazily, so ``cloudtally --help`` stays fast
and a collector host does not need the worker's dependencies loaded.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from cloudtally.i18n.cli import LocalisedGroup
from cloudtally.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, cls=LocalisedGroup)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Client libraries log every connection at INFO; keep their warnings and errors.
    for noisy in ("kafka", "aiokafka", "clickhouse_driver"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _serve_metrics() -> None:
    """Collectors expose /metrics too when CLOUDTALLY_METRICS_PORT > 0 (cluster scrape)."""
    s = get_settings()
    if s.metrics_port:
        from cloudtally.metrics_access import serve_metrics

        serve_metrics(s, s.metrics_port, s.api_host)


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")]


@app.command()
def migrate(verbose: Verbose = False) -> None:
    """Apply pending ClickHouse migrations to the configured store."""
    _logging(verbose)
    from cloudtally.store import open_store
    from cloudtally.store.migrate import migrate as run

    s = get_settings()
    with open_store(s.resolved_store_url, s.database) as store:
        ran = run(store)
    from cloudtally.i18n import cli_lang, translate

    said = translate(cli_lang())("cli.out.migrations", n=len(ran))
    typer.echo(said + "".join(f"\n  {m.version:04d}_{m.name}" for m in ran))


@app.command()
def retention(
    keep_months: Annotated[
        int, typer.Option(help="whole months of raw samples kept (default: the setting)")
    ] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what, drop nothing")] = False,
    verbose: Verbose = False,
) -> None:
    """Raw retention: drop raw-sample months past the kept window (docs/operations.md)."""
    _logging(verbose)
    from cloudtally.policy import current_policy
    from cloudtally.store import open_store
    from cloudtally.store.retention import apply_retention, plan

    s = get_settings()
    keep = keep_months or s.raw_retention_months
    if keep < 1:
        raise typer.BadParameter("set --keep-months or CLOUDTALLY_RAW_RETENTION_MONTHS (>= 1)")
    zone = current_policy(s.policy_file).zone
    with open_store(s.resolved_store_url, s.database) as store:
        import datetime as dt

        for d in plan(store, keep, dt.datetime.now(zone).date(), zone):
            typer.echo(f"{d.month:%Y-%m}  {d.reason}")
        dropped = apply_retention(store, keep, actor="cli", zone=zone, dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    typer.echo(f"{verb} {sum(x.rows for x in dropped):,} raw rows in {len(dropped)} partition(s)")


@app.command()
def broker(verbose: Verbose = False) -> None:
    """Run the embedded Tansu broker in the foreground (embedded mode)."""
    _logging(verbose)
    from cloudtally.broker.embedded import serve_forever

    serve_forever(get_settings())


@app.command()
def worker(
    with_api: Annotated[
        bool, typer.Option(help="serve the HTTP API in this process (required with chDB)")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Run the Faust worker: ingest samples and inventory into ClickHouse."""
    _logging(verbose)
    from cloudtally.worker.app import run_worker

    run_worker(get_settings(), with_api=with_api)


@app.command()
def api(verbose: Verbose = False) -> None:
    """Serve the HTTP API alone (cluster mode, against a ClickHouse server)."""
    _logging(verbose)
    from cloudtally.api.main import serve

    serve(get_settings())


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="random seed; same seed, same fleet and samples")] = 1,
    vms: Annotated[int, typer.Option(help="number of VMs")] = 200,
    pools: Annotated[int, typer.Option(help="resource pools")] = 2,
    bureaus: Annotated[int, typer.Option(help="bureaus")] = 20,
    start: Annotated[
        str, typer.Option(help="first sample time (ISO, Asia/Shanghai if naive)")
    ] = "",
    end: Annotated[str, typer.Option(help="end of the range, exclusive; default now")] = "",
    days: Annotated[float, typer.Option(help="range length when --start is not given")] = 1.0,
    interval: Annotated[int, typer.Option(help="seconds between samples per VM")] = 300,
    realtime: Annotated[
        bool, typer.Option(help="after the backfill, keep sending at wall-clock pace")
    ] = False,
    bad_ratio: Annotated[
        float, typer.Option(help="fraction of rows deliberately malformed (tests, demos)")
    ] = 0.0,
    wire_format: Annotated[
        str,
        typer.Option(
            "--format", help="sample wire format: arrow (cloudtally.samples/2) or json (/1)"
        ),
    ] = "arrow",
    rows_per_message: Annotated[
        int, typer.Option(help="sample rows per Kafka message (per-message costs amortize)")
    ] = 2000,
    heartbeats: Annotated[
        bool, typer.Option(help="beat every partition after each chunk, as exporters do")
    ] = True,
    outage: Annotated[
        str, typer.Option(help="POOL,FROM,TO: the pool's VMs silent (down) in [FROM, TO)")
    ] = "",
    verbose: Verbose = False,
) -> None:
    """Send a deterministic simulated fleet (inventory + samples) to Kafka."""
    _logging(verbose)
    _serve_metrics()
    from cloudtally.collectors.simulate import run_cli

    run_cli(
        get_settings(),
        seed=seed,
        vms=vms,
        pools=pools,
        bureaus=bureaus,
        start=start,
        end=end,
        days=days,
        interval=interval,
        realtime=realtime,
        bad_ratio=bad_ratio,
        wire_format=wire_format,
        rows_per_message=rows_per_message,
        heartbeats=heartbeats,
        outage=outage,
    )


@app.command()
def node(
    vm_id: Annotated[str, typer.Option(help="id to report this host as")] = "",
    interval: Annotated[float, typer.Option(help="seconds between samples")] = 15.0,
    count: Annotated[int, typer.Option(help="stop after this many samples (0 = forever)")] = 0,
    verbose: Verbose = False,
) -> None:
    """Report this host's real CPU, memory and filesystem usage as one VM."""
    _logging(verbose)
    _serve_metrics()
    from cloudtally.collectors.node import run_cli

    run_cli(get_settings(), vm_id=vm_id, interval=interval, count=count)


@app.command()
def up(
    vms: Annotated[int, typer.Option(help="simulated fleet size")] = 300,
    days: Annotated[float, typer.Option(help="days of history to backfill")] = 3.0,
    data_dir: Annotated[Path | None, typer.Option(help="where data persists")] = None,
    verbose: Verbose = False,
) -> None:
    """Embedded default: broker + worker + API + simulated fleet, on this machine."""
    _logging(verbose)
    from cloudtally.runner import up as run_up

    run_up(get_settings(), vms=vms, days=days, data_dir=data_dir)


def _mount_subapps() -> None:
    """Sub-command groups owned by their areas (billing, invoices)."""
    from cloudtally.billing.cli import app as billing_app

    app.add_typer(billing_app, name="billing", help="Tariffs, rating, statements")
    from cloudtally.audit.cli import app as audit_app

    app.add_typer(audit_app, name="audit", help="Ledger, restatements and evidence packs")
    from cloudtally.collectors.cli import app as collect_app

    app.add_typer(collect_app, name="collect", help="Real collectors: prometheus, scrape, file")
    from cloudtally.inventory.cli import app as inventory_app

    app.add_typer(inventory_app, name="inventory", help="Resource ledger (资源台账) import")
    from cloudtally.scorecard.cli import app as scorecard_app

    app.add_typer(scorecard_app, name="scorecard", help="Annual performance evaluation (绩效评价)")
    from cloudtally.evaluation.cli import app as availability_app

    app.add_typer(availability_app, name="availability", help="Availability, SLA credits, faults")
    try:
        from cloudtally.invoices.cli import app as invoices_app
    except ImportError:  # pragma: no cover - during development only
        return
    app.add_typer(invoices_app, name="invoices", help="Import and verify provider invoices")


_mount_subapps()


@app.callback()
def _language(
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang", help="zh | en: what commands print (default CLOUDTALLY_LANG, else zh)"
        ),
    ] = None,
) -> None:
    """The one catalogue decides every text (cloudtally.i18n); --lang sets it for the run."""
    if lang:
        import os

        from cloudtally.i18n import normalise

        if not normalise(lang):
            raise typer.BadParameter("expected zh or en", param_hint="--lang")
        os.environ["CLOUDTALLY_LANG"] = normalise(lang)


def main() -> None:
    from cloudtally.store.busy import StoreBusy

    try:
        app()
    except StoreBusy as exc:  # the embedded stack owns the chDB folder: say what to do
        print(f"cloudtally: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
