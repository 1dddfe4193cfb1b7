"""``cloudtally collect file``: a provider's monitoring export, accepted or rejected whole.

See core.metric_export for the layouts and the mapping. Nothing is sent unless
every row is valid; then the samples go out as one window with a heartbeat
covering the file's time span (source ``file:<mapping source>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cloudtally.core.ledger import RowsRejected
from cloudtally.core.metric_export import (
    ExportError,
    ExportMapping,
    mapping_from_dict,
    parse_export,
)
from cloudtally.core.samples import DiskColumns, SampleColumns
from cloudtally.tabular import TableError, read_table


class ExportRejected(RowsRejected):
    """Bad export rows: no sample was sent."""

    outcome = "nothing was sent"


def load_mapping(path: Path) -> ExportMapping:
    try:
        return mapping_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise ExportError(f"{path}: {exc}") from None


@dataclass
class ExportFile:
    samples: SampleColumns
    gaps: int  # metric cells that were gaps, plus (vm, ts) with only one of CPU / memory
    rows: int


def read_export(path: Path, mapping: ExportMapping, known_vms: set[str] | None) -> ExportFile:
    """Validate the whole file; raise ExportRejected (every problem) or ExportError."""
    try:
        header, rows = read_table(
            path, sheet=mapping.sheet, encoding=mapping.encoding, header_row=mapping.header_row
        )
    except TableError as exc:
        raise ExportError(str(exc)) from None
    parsed = parse_export(mapping, header, rows, known_vms)
    if parsed.problems:
        raise ExportRejected(parsed.problems, parsed.rows)
    full = sorted((k, v) for k, v in parsed.values.items() if "cpu_pct" in v and "mem_pct" in v)
    samples = SampleColumns(
        np.array([k[0] for k, _ in full], dtype=object),
        np.array([k[1] for k, _ in full], dtype=np.int64),
        np.array([v["cpu_pct"] for _, v in full], dtype=np.float32),
        np.array([v["mem_pct"] for _, v in full], dtype=np.float32),
    )
    partial = len(parsed.values) - len(full)
    return ExportFile(samples, parsed.gaps + partial, parsed.rows)


def run(settings: Any, path: Path, mapping: ExportMapping, *, view: Any = None) -> dict[str, Any]:
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.collectors.sender import CollectorSender
    from cloudtally.collectors.storeview import open_store_view

    view = view or open_store_view(settings)
    try:
        known = view.known_vm_ids()
    finally:
        view.close()
    export = read_export(path, mapping, known)
    stats: dict[str, Any] = {"rows": export.rows, "samples": len(export.samples)}
    stats["gaps"] = export.gaps
    if not len(export.samples):
        return stats
    ensure_topics(settings)
    sender = CollectorSender(settings, f"file:{mapping.source}")
    try:
        empty = np.empty(0, dtype=object)
        no_disks = DiskColumns(empty, empty, np.empty(0, np.int64), np.empty(0, np.float64))
        ts = export.samples.ts
        sender.send_window(export.samples, no_disks, int(ts.min()), int(ts.max()))
    finally:
        sender.close()
    return stats
