"""Every CSV table the API exports (statements, bill lines, budget, utilization,
pools, idle / storage-idle / rightsizing candidates) in Chinese has no English sentence in
any cell — headers, words, explanations — on the planted, rated fleet; the same export in
English has English headers. Cells of data the reader needs as written (ids, JSON evidence,
derivations' figures) are single tokens or JSON and are left out as the findings test does."""

from __future__ import annotations

import csv
import io

import pytest

from tests.api import fleet
from tests.api.fleet import D0, D1, Api
from tests.i18n.english import english_sentences

seeded = fleet.seeded  # the module-scoped seeded API fixture
B, U = "/api/v1/billing", "/api/v1/utilization"
OCT = {"month": "2023-10"}
PERIOD = {"day_from": D0.isoformat(), "day_to": D1.isoformat()}
EXPORTS = [
    (f"{B}/statements", {"by": "bureau", **OCT}),
    (f"{B}/lines", OCT),
    (f"{B}/budget", {"fiscal_year": "2023"}),
    (U, {**PERIOD, "by": "vm"}),
    (f"{U}/pools", PERIOD),
    (f"{U}/candidates/idle", {"as_of": D1.isoformat()}),
    (f"{U}/candidates/storage-idle", {"as_of": D1.isoformat()}),
    (f"{U}/candidates/rightsizing", PERIOD),
]


def _cells(text: str) -> tuple[list[str], list[str]]:
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return table[0], [c for row in table[1:] for c in row]


@pytest.mark.parametrize(("url", "params"), EXPORTS, ids=[u for u, _ in EXPORTS])
def test_csv_exports_in_chinese_have_no_english(seeded: Api, url: str, params: dict) -> None:
    zh = seeded.get(url, format="csv", lang="zh", **params)
    assert zh.status_code == 200, (url, zh.text[:300])
    assert zh.headers["content-type"].startswith("text/csv"), zh.headers["content-type"]
    header, cells = _cells(zh.text)
    assert not [h for h in header if english_sentences(h)], header
    found = [c for c in cells if english_sentences(c) and not c.lstrip().startswith(("{", "["))]
    assert not found, (url, found[:5])
    en = seeded.get(url, format="csv", lang="en", **params)
    en_header, _ = _cells(en.text)
    assert (len(en_header) == len(header) and en_header != header) or not header, en_header
