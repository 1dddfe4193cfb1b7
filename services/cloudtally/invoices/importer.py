"""Import a provider invoice file (CSV, XLSX or FOCUS CSV) into the store, whole or not at all.

The file is streamed: memory stays bounded by two chunks of lines (one being
parsed a column at a time, one being inserted) whatever the file size, and the
size limit is checked before anything is parsed. Lines are inserted chunk by
chunk under a fresh import id while parsing; the first bad
row stops the inserts (parsing goes on so every bad row is reported), and the
invoice header, which makes the lines visible, is written only when the whole
file was valid. A failed import's lines are deleted before the error returns.
The same file (SHA-256 of its bytes) imported twice returns the first import.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime as dt
import functools
import gc
import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, ParamSpec

import yaml

from cloudtally.core.invoice import (
    BASE_CURRENCY,
    InvoiceError,
    InvoiceMapping,
    LineParser,
    RowError,
    default_provider_mapping,
    detect_encoding,
    focus_mapping,
    mapping_from_dict,
)
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.csv_blocks import open_blocks
from cloudtally.invoices.reading import NeedRowReader, read_blocks, read_records, read_rows
from cloudtally.invoices.tally import ImportTally
from cloudtally.invoices.upload_bounds import (
    UploadBounds,
    bounded_cells,
    check_sheet_width,
    check_xlsx_archive,
)
from cloudtally.store.base import Store

csv.field_size_limit(1 << 20)
Progress = Callable[[int, int], None]  # (rows parsed, bytes read)
P = ParamSpec("P")
_hash_locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_resume = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Lines, decimals and strings form no cycles (reference counting frees
    them), but their sheer number triggers full collections over the whole
    heap: a third of a 100,000-line import + verification. Nested and
    concurrent uses are counted; collection resumes when the last one ends.
    """
    global _gc_depth, _gc_resume
    with _gc_lock:
        if _gc_depth == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_resume:
                gc.enable()


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on one import; from CLOUDTALLY_INVOICE_MAX_BYTES / _MAX_ROWS by default."""

    max_bytes: int = field(
        default_factory=lambda: _env_int("CLOUDTALLY_INVOICE_MAX_BYTES", 512 * 1024 * 1024)
    )
    max_rows: int = field(
        default_factory=lambda: _env_int("CLOUDTALLY_INVOICE_MAX_ROWS", 5_000_000)
    )
    chunk_rows: int = field(
        default_factory=lambda: max(1, _env_int("CLOUDTALLY_INVOICE_CHUNK_ROWS", 50_000))
    )
    max_errors: int = 1000


class ImportRejected(InvoiceError):
    """Bad rows: nothing was imported. ``errors`` holds the first ``max_errors``."""

    def __init__(self, errors: list[RowError], error_count: int, rows: int) -> None:
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {error_count - 5} more)" if error_count > 5 else ""
        super().__init__(
            f"{error_count} of {rows} rows are invalid; nothing was imported: {shown}{more}",
            "rejected_rows",
            errors=error_count,
            rows=rows,
        )
        self.errors = errors
        self.error_count = error_count
        self.rows = rows


@dataclass(frozen=True)
class ImportResult:
    invoice_id: str
    status: str  # imported | duplicate
    rows: int
    billed_total: Decimal
    billing_period: tuple[dt.datetime, dt.datetime]
    file_hash: str
    provider: str
    source_currency: str = ""  # set when the file was in another currency and converted
    exchange_rate: Decimal | None = None  # CNY per unit of source_currency, as given


class CurrencyRefused(InvoiceError):
    """The invoice is not in CNY and no exchange rate was given (or one was, for CNY)."""


class MappingConflict(InvoiceError):
    """The mapping names another provider than the import's."""


def currency_refused(currency: str) -> str:
    """Why an invoice in another currency is not imported without a rate (CLI and API)."""
    return (
        f"the invoice is in {currency}, not {BASE_CURRENCY}: cloudtally verifies against the "
        f"contract tariff in {BASE_CURRENCY} and never guesses an exchange rate; give the rate "
        f"(CNY per {currency}: CLI --exchange-rate, API form field exchange_rate) to convert "
        "it, or ask the provider for an invoice in CNY"
    )


def load_mapping(path: str | Path) -> InvoiceMapping:
    """A provider mapping from a YAML or JSON file (keys: see core.invoice.mapping_from_dict)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        doc = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvoiceError(
            f"{path}: not valid YAML/JSON: {exc}", "mapping_not_yaml", path=path, error=exc
        ) from None
    return mapping_from_dict(doc)


def mapping_provider_conflict(mapping_provider: str, provider: str) -> str:
    return (
        f"mapping is for provider {mapping_provider!r}, not {provider!r}: give the mapping of "
        f"{provider!r}, or provider {mapping_provider!r} if the file is theirs"
    )


def resolve_mapping(
    provider: str, fmt: str | None, mapping: InvoiceMapping | str | Path | None
) -> InvoiceMapping:
    if isinstance(mapping, InvoiceMapping):
        m = mapping
    elif mapping is not None:
        m = load_mapping(mapping)
    elif fmt == "focus":
        m = focus_mapping(provider)
    else:
        m = default_provider_mapping(provider)
    if m.provider != provider:  # as the API refuses it: never bill one provider's file to another
        raise MappingConflict(
            mapping_provider_conflict(m.provider, provider),
            "mapping_provider",
            mapping_provider=m.provider,
            provider=provider,
        )
    if fmt and fmt != m.format and not (fmt == "xlsx" and m.format == "csv"):
        m = InvoiceMapping(**{**m.__dict__, "format": fmt})
    elif fmt == "xlsx":
        m = InvoiceMapping(**{**m.__dict__, "format": "xlsx"})
    return m


# ------------------------------------------------------------------ reading


def _spool(source: IO[bytes], limit: int) -> tuple[Path, str, int]:
    """Copy an upload stream to a temporary file, hashing it and enforcing the size limit."""
    h = hashlib.sha256()
    fd, name = tempfile.mkstemp(prefix="cloudtally-invoice-")
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(1 << 20):
            size += len(chunk)
            if size > limit:
                out.close()
                os.unlink(name)
                raise _too_big(size, limit, partial=True)
            h.update(chunk)
            out.write(chunk)
    return Path(name), h.hexdigest(), size


def _too_big(size: int, limit: int, *, partial: bool = False) -> InvoiceError:
    at_least = "more than " if partial else ""
    return InvoiceError(
        f"the file is {at_least}{size:,} bytes; the limit is {limit:,} bytes "
        "(CLOUDTALLY_INVOICE_MAX_BYTES); split the invoice or raise the limit",
        "too_big_partial" if partial else "too_big",
        size=f"{size:,}",
        limit=f"{limit:,}",
    )


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


def _csv_encoding(path: Path, mapping: InvoiceMapping) -> str:
    """The file's text encoding: the mapping's, else detected from its first bytes."""
    with path.open("rb") as raw:
        head = raw.read(65536)
    if not head.strip():
        raise InvoiceError("the file is empty", "empty")
    encoding = mapping.encoding if mapping.encoding != "auto" else detect_encoding(head)
    return "utf-8-sig" if encoding in ("utf-8", "utf8") else encoding


def _csv_rows(
    path: Path, mapping: InvoiceMapping, counter: list[_CountingReader]
) -> Iterator[Sequence[str]]:
    encoding = _csv_encoding(path, mapping)
    with path.open("rb") as raw:
        reader = _CountingReader(raw)
        counter.append(reader)
        text = io.TextIOWrapper(
            io.BufferedReader(reader, 1 << 20), encoding=encoding, errors="strict", newline=""
        )
        text._CHUNK_SIZE = 1 << 18  # type: ignore[attr-defined]  # decode in larger steps
        rows = csv.reader(text, delimiter=mapping.delimiter)
        n = 0
        try:
            for row in rows:
                n += 1
                yield row
        except UnicodeDecodeError as exc:
            name = encoding.replace("-sig", "")
            raise InvoiceError(
                f"row {n + 1}: bytes are not valid {name} "
                f"({exc.reason}); the file is in another encoding (UTF-8, UTF-8 with BOM and "
                "GB18030 are read; set 'encoding' in the provider mapping)",
                "row_bad_bytes",
                row=n + 1,
                encoding=name,
                error=exc.reason,
            ) from None
        except csv.Error as exc:
            raise InvoiceError(
                f"row {n + 1}: not valid CSV: {exc}", "row_not_csv", row=n + 1, error=exc
            ) from None


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.datetime) and v.time() == dt.time() and v.tzinfo is None:
        return v.date().isoformat()  # a date cell: a date, so inclusive/exclusive ends apply
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)


def _xlsx_rows(path: Path, mapping: InvoiceMapping) -> Iterator[Sequence[str]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    check_xlsx_archive(path)  # a decompression bomb is refused before openpyxl opens it
    try:
        wb = load_workbook(path.open("rb"), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as exc:
        raise InvoiceError(f"not a readable XLSX workbook: {exc}", "not_xlsx", error=exc) from None
    try:
        if mapping.sheet:
            if mapping.sheet not in wb.sheetnames:
                sheets = ", ".join(wb.sheetnames)
                raise InvoiceError(
                    f"sheet {mapping.sheet!r} not found; the workbook has {sheets}",
                    "no_sheet",
                    sheet=mapping.sheet,
                    sheets=sheets,
                )
            ws = wb[mapping.sheet]
        else:
            ws = wb.worksheets[0]
        check_sheet_width(ws.max_column)
        for row in ws.iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        wb.close()


# ------------------------------------------------------------------ import


def _outcome(exc: InvoiceError) -> str:
    if isinstance(exc, ImportRejected):
        return "rejected_rows"
    if isinstance(exc, CurrencyRefused):
        return "refused_currency"
    if isinstance(exc, MappingConflict):
        return "refused_mapping"
    return "rejected_file"


def _counted(fn: Callable[P, ImportResult]) -> Callable[P, ImportResult]:
    """Count every import attempt by its outcome (cloudtally_invoice_imports_total)."""

    @functools.wraps(fn)
    def counted(*args: P.args, **kwargs: P.kwargs) -> ImportResult:
        from cloudtally.metrics import INVOICE_IMPORTS

        try:
            res = fn(*args, **kwargs)
        except InvoiceError as exc:
            INVOICE_IMPORTS.labels(_outcome(exc)).inc()
            raise
        INVOICE_IMPORTS.labels(res.status).inc()
        return res

    return counted


@_counted
def import_invoice(
    store: Store,
    source: str | Path | bytes | IO[bytes],
    *,
    provider: str,
    mapping: InvoiceMapping | str | Path | None = None,
    fmt: str | None = None,
    file_name: str = "",
    billing_period: tuple[dt.datetime, dt.datetime] | None = None,
    limits: ImportLimits | None = None,
    progress: Progress | None = None,
    imported_by: str = "",
    exchange_rate: Decimal | None = None,
    columnar: bool | None = None,
) -> ImportResult:
    """Import one invoice file; raise InvoiceError / ImportRejected and import nothing if bad.

    Amounts must be CNY: an invoice in another currency is refused with the reason
    unless ``exchange_rate`` (CNY per unit of the invoice's currency) is given; then
    every amount and price is converted exactly and each amount rounded to the fen.
    ``columnar`` (default: CLOUDTALLY_INVOICE_COLUMNAR, on) reads the file in blocks
    converted in columns where it can (:mod:`cloudtally.invoices.reading`); False reads
    every row with the row parser. Both store the same lines and refuse the same rows.
    """
    limits = limits or ImportLimits()
    xlsx_name = isinstance(source, str | Path) and Path(source).suffix.lower() in (".xlsx", ".xlsm")
    if fmt is None and xlsx_name:
        fmt = "xlsx"  # as the CLI and the API decide it: by the file's name
    if exchange_rate is not None and not exchange_rate > 0:
        raise InvoiceError(
            f"the exchange rate must be a positive number, got {exchange_rate}",
            "rate_not_positive",
            value=exchange_rate,
        )
    m = resolve_mapping(provider, fmt, mapping)
    cleanup: Path | None = None
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InvoiceError(f"no such file: {path}", "no_file", path=path)
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise _too_big(size, limits.max_bytes)
        digest = file_hash(path)
        file_name = file_name or path.name
    else:
        path, digest, size = _spool(source, limits.max_bytes)
        cleanup = path
    try:
        if size == 0:
            raise InvoiceError("the file is empty", "empty")
        with _hash_locks[digest]:
            existing = inv_store.find_by_hash(store, digest)
            if existing is not None:
                return _duplicate(existing, digest)
            with gc_paused():
                return _import(
                    store,
                    path,
                    m,
                    digest,
                    size,
                    file_name,
                    billing_period,
                    limits,
                    progress,
                    imported_by,
                    exchange_rate,
                    columnar,
                )
    finally:
        if cleanup is not None:
            cleanup.unlink(missing_ok=True)


def _duplicate(existing: dict[str, Any], digest: str) -> ImportResult:
    return ImportResult(
        invoice_id=existing["invoice_id"],
        status="duplicate",
        rows=int(existing["row_count"]),
        billed_total=existing["billed_total"],
        billing_period=(existing["billing_period_start"], existing["billing_period_end"]),
        file_hash=digest,
        provider=existing["provider"],
        source_currency=existing.get("source_currency", ""),
        exchange_rate=Decimal(existing["exchange_rate"]) if existing.get("exchange_rate") else None,
    )


def _import(
    store: Store,
    path: Path,
    m: InvoiceMapping,
    digest: str,
    size: int,
    file_name: str,
    billing_period: tuple[dt.datetime, dt.datetime] | None,
    limits: ImportLimits,
    progress: Progress | None,
    imported_by: str,
    exchange_rate: Decimal | None = None,
    columnar: bool | None = None,
) -> ImportResult:
    invoice_id = f"{_slug(m.provider)}-{digest[:16]}"

    def finish(tally: ImportTally) -> ImportResult:
        return _finish(store, tally, m, digest, size, file_name, billing_period, progress,
                       imported_by)  # fmt: skip

    if columnar is None:
        columnar = os.environ.get("CLOUDTALLY_INVOICE_COLUMNAR", "1") != "0"
    read = _columnar_reader(path, m, limits, progress) if columnar else None
    if read is not None:
        try:
            return _tallied(store, invoice_id, limits, exchange_rate, read, finish)
        except NeedRowReader:
            pass  # the row reader reads the whole file again, and says exactly why
    return _tallied(store, invoice_id, limits, exchange_rate,
                    _row_reader(path, m, limits, progress), finish)  # fmt: skip


def _tallied(
    store: Store,
    invoice_id: str,
    limits: ImportLimits,
    exchange_rate: Decimal | None,
    read: Callable[[ImportTally], None],
    finish: Callable[[ImportTally], ImportResult],
) -> ImportResult:
    """Read the file into a fresh import; whatever it inserted goes if anything fails."""
    tally = ImportTally(store, invoice_id, uuid.uuid4().hex, max_errors=limits.max_errors,
                        exchange_rate=exchange_rate)  # fmt: skip
    try:
        read(tally)
        tally.finish()
        return finish(tally)
    except BaseException:
        tally.abort()
        raise
    finally:
        tally.close()


def _header(rows: Iterator[Sequence[str]]) -> Sequence[str]:
    header = next(rows, None)
    if header is None:
        raise InvoiceError("the file is empty: no header row", "no_header")
    return header


def _row_reader(
    path: Path, m: InvoiceMapping, limits: ImportLimits, progress: Progress | None
) -> Callable[[ImportTally], None]:
    def read(tally: ImportTally) -> None:
        counter: list[_CountingReader] = []
        source = _xlsx_rows(path, m) if m.format == "xlsx" else _csv_rows(path, m, counter)
        rows = iter(bounded_cells(source))
        parser = LineParser(_header(rows), m)
        read_rows(enumerate(rows, start=2), parser, tally, max_rows=limits.max_rows,
                  chunk_rows=limits.chunk_rows, progress=progress,
                  bytes_read=lambda: counter[0].count if counter else 0)  # fmt: skip

    return read


def _columnar_reader(
    path: Path, m: InvoiceMapping, limits: ImportLimits, progress: Progress | None
) -> Callable[[ImportTally], None] | None:
    """The block reader of this file, or None when it takes no block of it."""
    if m.format == "xlsx":

        def read_sheet(tally: ImportTally) -> None:
            rows = iter(bounded_cells(_xlsx_rows(path, m)))
            parser = LineParser(_header(rows), m)
            read_records(enumerate(rows, start=2), parser, tally, max_rows=limits.max_rows,
                         chunk_rows=limits.chunk_rows, progress=progress,
                         too_many=NeedRowReader)  # fmt: skip

        return read_sheet
    blocks = open_blocks(path, _csv_encoding(path, m), m.delimiter, limits.chunk_rows)
    if blocks is None:
        return None

    def read_csv(tally: ImportTally) -> None:
        assert blocks is not None
        if len(blocks.header) > UploadBounds().max_columns:
            raise NeedRowReader  # refused by the row reader, in its words
        parser = LineParser(blocks.header, m)
        read_blocks(blocks, parser, tally, max_rows=limits.max_rows,
                    chunk_rows=limits.chunk_rows, progress=progress)  # fmt: skip

    return read_csv


def _finish(
    store: Store,
    tally: ImportTally,
    m: InvoiceMapping,
    digest: str,
    size: int,
    file_name: str,
    billing_period: tuple[dt.datetime, dt.datetime] | None,
    progress: Progress | None,
    imported_by: str,
) -> ImportResult:
    """Refuse the file with every reason, or write its header and ledger entry."""
    n, exchange_rate, currencies = tally.n, tally.exchange_rate, tally.currencies
    invoice_id, import_id = tally.invoice_id, tally.import_id
    if tally.error_count:
        raise ImportRejected(tally.errors, tally.error_count, n)
    if n == 0:
        raise InvoiceError("the file has a header but no invoice lines", "no_lines")
    if len(currencies) > 1:
        mixed = ", ".join(sorted(currencies))
        raise InvoiceError(
            f"the invoice mixes currencies: {sorted(currencies)}",
            "mixed_currencies",
            currencies=mixed,
        )
    source = next(iter(currencies))
    if source != BASE_CURRENCY and exchange_rate is None:
        raise CurrencyRefused(currency_refused(source), "currency_refused", currency=source)
    if source == BASE_CURRENCY and exchange_rate is not None:
        raise CurrencyRefused(
            f"an exchange rate ({exchange_rate}) was given but the invoice is already in "
            f"{BASE_CURRENCY}; import it without a rate",
            "rate_for_cny",
            rate=exchange_rate,
        )
    months: collections.Counter[tuple[int, int]] = collections.Counter()
    for start, count in tally.starts.items():
        local = start.astimezone(m.tz)
        months[(local.year, local.month)] += count
    period = billing_period or _billing_period(months, tally.billing, m)
    existing = inv_store.find_by_hash(store, digest)
    if existing is not None:  # another process won the race
        tally.abort()
        return _duplicate(existing, digest)
    invoice_nos = tally.invoice_nos
    inv_store.insert_header(
        store,
        {
            "invoice_id": invoice_id,
            "import_id": import_id,
            "provider": m.provider,
            "provider_invoice_no": invoice_nos.most_common(1)[0][0] if invoice_nos else "",
            "source_format": m.format,
            "file_name": file_name,
            "file_hash": digest,
            "file_bytes": size,
            "billing_period_start": period[0],
            "billing_period_end": period[1],
            "currency": BASE_CURRENCY,
            "source_currency": "" if source == BASE_CURRENCY else source,
            "exchange_rate": "" if exchange_rate is None else str(exchange_rate),
            "imported_at": dt.datetime.now(dt.UTC),
            "imported_by": imported_by,
            "row_count": n,
            "billed_total": tally.total,
            "status": "imported",
        },
    )
    from cloudtally.audit.ledger import append  # an imported invoice is evidence
    from cloudtally.audit.streamed import invoice_imported_parts

    subject = {"invoice_id": invoice_id, "import_id": import_id}
    append(store, "invoice_imported", subject, actor=imported_by,
           reason=f"invoice {file_name} imported",
           parts=invoice_imported_parts(store, subject))  # fmt: skip
    from cloudtally.metrics import INVOICE_IMPORT_ROWS

    INVOICE_IMPORT_ROWS.labels("columnar").inc(tally.columnar_rows)
    INVOICE_IMPORT_ROWS.labels("rows").inc(n - tally.columnar_rows)
    if progress:
        progress(n, size)
    return ImportResult(
        invoice_id,
        "imported",
        n,
        tally.total,
        period,
        digest,
        m.provider,
        "" if source == BASE_CURRENCY else source,
        exchange_rate,
    )


def _billing_period(
    months: collections.Counter[tuple[int, int]],
    billing: collections.Counter[tuple[dt.datetime, dt.datetime]],
    m: InvoiceMapping,
) -> tuple[dt.datetime, dt.datetime]:
    """The billing period the file states (FOCUS), else the month most lines fall in."""
    if billing:
        return billing.most_common(1)[0][0]
    (y, mo), _ = max(months.items(), key=lambda kv: (kv[1], kv[0]))
    start = dt.datetime(y, mo, 1, tzinfo=m.tz)
    end = dt.datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=m.tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _slug(text: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_" else "-" for c in text.strip().lower())
    return s[:40] or "provider"


def copy_to_temp(src: IO[bytes]) -> Path:  # pragma: no cover - convenience for the API
    fd, name = tempfile.mkstemp(prefix="cloudtally-upload-")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out)
    return Path(name)
