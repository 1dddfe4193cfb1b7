"""Report ``CLOUDTALLY_*`` environment variables that no setting reads.

pydantic-settings ignores unknown variables (``extra="ignore"``), so a typo or a
setting that was renamed would silently run with the default. At start every
command logs one warning line per unknown name, with the nearest valid name.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping

log = logging.getLogger("cloudtally.settings")

PREFIX = "CLOUDTALLY_"
# Read outside Settings (tools, limits of the invoice importer, test helpers).
OTHER_VARIABLES = frozenset(
    {
        "CLOUDTALLY_FAUST_LOGLEVEL",
        "CLOUDTALLY_CLICKHOUSE_SERVER_BIN",
        "CLOUDTALLY_INVOICE_MAX_BYTES",
        "CLOUDTALLY_INVOICE_MAX_ROWS",
        "CLOUDTALLY_INVOICE_PARTITION_LINES",
        "CLOUDTALLY_INVOICE_PASS_LINES",
        "CLOUDTALLY_INVOICE_VERIFY_IN_STORE",
        "CLOUDTALLY_INVOICE_CHUNK_ROWS",
        "CLOUDTALLY_INVOICE_COLUMNAR",  # 0: the row reader only (docs/invoices.md)
        "CLOUDTALLY_INVOICE_MAX_CELLS",
        "CLOUDTALLY_INVOICE_MAX_COLUMNS",
        "CLOUDTALLY_INVOICE_MAX_SHARED_STRINGS_BYTES",
        "CLOUDTALLY_INVOICE_MAX_UNCOMPRESSED_BYTES",
        "CLOUDTALLY_API_TOKEN",  # a collector's API token in embedded mode (storeview)
        "CLOUDTALLY_LANG",  # the CLI's language (cloudtally.i18n.cli_lang; docs/i18n.md)
    }
)
# Names that older docs used, mapped to the setting that does the job.
RENAMED = {
    "CLOUDTALLY_SINK_MAX_ROWS": "CLOUDTALLY_TAKE_MAX_MESSAGES",
    "CLOUDTALLY_SINK_MAX_SECONDS": "CLOUDTALLY_TAKE_WITHIN_S",
}


def known_variables() -> frozenset[str]:
    from cloudtally.settings import Settings

    return frozenset(PREFIX + name.upper() for name in Settings.model_fields) | OTHER_VARIABLES


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(unknown name, nearest valid name) for each CLOUDTALLY_* variable nobody reads."""
    known = known_variables()
    out = []
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in known:
            nearest = (
                RENAMED.get(name)
                or (difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.0) or [""])[0]
            )
            out.append((name, nearest))
    return out


def warn_unknown(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    found = unknown_variables(os.environ if environ is None else environ)
    for name, nearest in found:
        log.warning("unknown setting %s is ignored; did you mean %s?", name, nearest)
    return found
