"""``cloudtally inventory``: the buyer's resource ledger (资源台账) into inventory."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from cloudtally.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="ledger CSV (UTF-8/GB18030) or XLSX")],
    mapping: Annotated[
        Path | None, typer.Option(help="YAML header mapping (default: common Chinese headers)")
    ] = None,
    effective: Annotated[
        str,
        typer.Option(help="when moves/resizes without a 变更日期 apply (ISO; default now)"),
    ] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the diff, send nothing")
    ] = False,
    delete_absent: Annotated[
        bool, typer.Option(help="VMs in inventory but not in the ledger are deleted")
    ] = False,
) -> None:
    """Diff a ledger against inventory; send created/resized/moved/deleted events."""
    from cloudtally.collectors.storeview import open_store_view
    from cloudtally.core.ledger import LedgerError
    from cloudtally.inventory.ledger import (
        current_inventory,
        describe,
        load_mapping,
        plan,
        to_event,
    )
    from cloudtally.tabular import exit_on_bad_file

    settings = get_settings()
    at = int(time.time())
    if effective:
        from cloudtally.core.localtime import parse_when

        try:
            at = parse_when(effective)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    view = open_store_view(settings)
    try:
        current = current_inventory(view.current_vms())
    finally:
        view.close()
    p = exit_on_bad_file(
        lambda: plan(file, load_mapping(mapping), current, at, delete_absent=delete_absent),
        LedgerError,
    )
    for c in p.changes:
        typer.echo(json.dumps(describe(c), ensure_ascii=False))
    if p.absent:
        typer.echo(json.dumps({"absent_from_ledger": p.absent}, ensure_ascii=False))
    summary = {"rows": p.rows, **p.counts(), "dry_run": dry_run}
    if not dry_run and p.changes:
        from cloudtally.broker.topics import ensure_topics
        from cloudtally.collectors.producer import InventoryProducer

        ensure_topics(settings)
        with InventoryProducer(
            settings.kafka_bootstrap, settings.topic_inventory, source="ledger"
        ) as inv:
            for c in p.changes:
                inv.send(to_event(c))
        summary["events_sent"] = len(p.changes)
    typer.echo(json.dumps(summary, ensure_ascii=False))
