"""Column headers of CSV/XLSX exports: ``col.<key>`` in the catalogue. English headers are
the JSON field names themselves (a column means exactly what the field means); Chinese
ones are the words the seed documents use (使用单位, 资源池, 金额 …)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cloudtally.i18n import gettext


def column_headers(
    keys: Sequence[str], lang: str, extra_zh: Mapping[str, str] | None = None
) -> list[str]:
    """Headers of ``keys`` in ``lang``; a key the catalogue lacks shows in ``extra_zh``
    (Chinese) or as itself."""
    if lang != "zh":
        return list(keys)
    out = []
    for k in keys:
        text = gettext(f"col.{k}", "zh")
        out.append(text if text != f"col.{k}" else (extra_zh or {}).get(k, k))
    return out
