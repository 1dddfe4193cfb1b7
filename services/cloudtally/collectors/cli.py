"""``cloudtally collect <source>``: the real collectors (see docs/collectors.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cloudtally.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

MetricsPort = Annotated[
    int, typer.Option(help="serve /metrics (collector health) on this port; 0 = off")
]


def _start(verbose: bool, metrics_port: int) -> None:
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.WARNING)
    port = metrics_port or get_settings().metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=get_settings().api_host)


def _time(value: str) -> int | None:
    if not value:
        return None
    from cloudtally.core.localtime import parse_when

    try:
        return parse_when(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def prometheus(
    source_file: Annotated[Path, typer.Argument(help="source YAML (server, step, queries)")],
    start: Annotated[
        str, typer.Option("--from", help="backfill from (ISO; Asia/Shanghai if naive)")
    ] = "",
    end: Annotated[str, typer.Option("--to", help="backfill to (inclusive); default now")] = "",
    follow: Annotated[
        bool, typer.Option(help="after the backfill, keep following real time")
    ] = True,
    metrics_port: MetricsPort = 0,
    verbose: bool = False,
) -> None:
    """Metrics from a Prometheus server (node_exporter, libvirt_exporter, your PromQL)."""
    from cloudtally.collectors.prometheus import run
    from cloudtally.collectors.promsource import load_source

    _start(verbose, metrics_port)
    src = load_source(source_file)
    t0 = _time(start)
    if t0 is None:
        import time

        t0 = int(time.time()) - 3600
    stats = run(get_settings(), src, t0, _time(end), follow=follow)
    typer.echo(json.dumps(stats))


@app.command()
def scrape(
    targets_file: Annotated[
        Path, typer.Argument(help="targets YAML (source, interval, url→vm_id)")
    ],
    count: Annotated[int, typer.Option(help="stop after this many rounds (0 = forever)")] = 0,
    metrics_port: MetricsPort = 0,
    verbose: bool = False,
) -> None:
    """Scrape node_exporter-style endpoints directly (sites without Prometheus)."""
    from cloudtally.collectors.scrape import load_targets, run

    _start(verbose, metrics_port)
    stats = run(get_settings(), load_targets(targets_file), count=count)
    typer.echo(json.dumps(stats))


@app.command("file")
def file_(
    export: Annotated[Path, typer.Argument(help="CSV (UTF-8/GB18030), XLSX or Parquet export")],
    mapping: Annotated[Path, typer.Option(help="YAML column mapping (source, layout, columns)")],
    verbose: bool = False,
) -> None:
    """A provider's per-VM monitoring export, accepted or rejected as a whole."""
    from cloudtally.collectors.files import load_mapping, run
    from cloudtally.core.metric_export import ExportError
    from cloudtally.tabular import exit_on_bad_file

    _start(verbose, 0)
    stats = exit_on_bad_file(
        lambda: run(get_settings(), export, load_mapping(mapping)), ExportError
    )
    typer.echo(json.dumps(stats))
