"""An invoice CSV cut into blocks of whole lines, for the columnar import.

Python's csv reader ends a record at a line break outside quotes, so in a block with no
quote character, no carriage return but in CR LF, no empty line and no NUL, every line is
one record and its cells are the text between delimiters: pyarrow's CSV reader (quotes
off) reads such a block into the same cells, a column at a time. The bytes that mean
line break or quote never occur inside a multi-byte character of UTF-8 or GB18030, so
blocks are cut in the file's own bytes; other encodings, a non-ASCII delimiter or a
header that is not a plain line leave the file to the row reader (:func:`open_blocks`
returns None). A block that is not plain is read by Python's csv reader from its first
byte on, to the end of the file (:meth:`CsvBlocks.rows_from`).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

# Encodings in which LF, CR and '"' are never part of a multi-byte character.
BLOCK_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312", "ascii"})
READ_BYTES = 8 << 20


@dataclass(frozen=True)
class Block:
    """Whole lines of the file: rows ``first_row`` .. ``first_row + lines - 1``."""

    first_row: int
    start: int  # byte offset of its first line
    end: int  # byte offset after its last line
    data: bytes  # in the file's encoding
    lines: int
    plain: bool  # each line is one record (see the module's docstring)


class CsvBlocks:
    """The header and the blocks of one CSV file (``lines`` lines a block at most)."""

    def __init__(self, path: Path, encoding: str, delimiter: str, lines: int) -> None:
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter
        self.lines = max(1, lines)
        self.header: list[str] = []
        self.data_start = 0

    def read_header(self) -> bool:
        """Read the header line; False when it is not a plain line (the row reader's)."""
        with self.path.open("rb") as f:
            head = f.read(READ_BYTES)
        end = head.find(b"\n")
        line = head if end < 0 else head[: end + 1]
        if not _plain(line):
            return False
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError:
            return False
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter))
        if len(rows) != 1:
            return False
        self.header = rows[0]
        self.data_start = len(line)
        return True

    def __iter__(self) -> Iterator[Block]:
        row = 2
        with self.path.open("rb") as f:
            f.seek(self.data_start)
            offset = self.data_start
            buf = b""
            eof = False
            while True:
                if not eof and buf.count(b"\n") < self.lines:
                    more = f.read(READ_BYTES)
                    eof = not more
                    buf += more
                    if not eof:
                        continue
                if not buf:
                    return
                ends = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10)
                if len(ends) >= self.lines:
                    cut = int(ends[self.lines - 1]) + 1
                elif eof:
                    cut = len(buf)
                else:
                    continue
                data, buf = buf[:cut], buf[cut:]
                lines = data.count(b"\n") + (not data.endswith(b"\n"))
                yield Block(row, offset, offset + cut, data, lines, _plain(data))
                row += lines
                offset += cut

    def rows_from(self, block: Block) -> Iterator[Sequence[str]]:
        """Records from the block's first byte to the end of the file (csv reader)."""
        encoding = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        with self.path.open("rb") as raw:
            raw.seek(block.start)
            text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
            yield from csv.reader(text, delimiter=self.delimiter)

    def block_rows(self, block: Block) -> list[Sequence[str]]:
        """A plain block's records (UnicodeDecodeError on a bad byte)."""
        encoding = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        text = block.data.decode(encoding)
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter))

    def table(self, block: Block, width: int) -> pa.Table | None:
        """A plain block's cells as string columns c0.., or None (a row of another width,
        bytes that are not text): the row reader then says what is wrong."""
        data = block.data
        if self.encoding not in ("utf-8", "utf-8-sig", "ascii"):
            try:
                data = data.decode(self.encoding).encode("utf-8")
            except UnicodeDecodeError:
                return None
        names = [f"c{i}" for i in range(width)]
        try:
            return pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(
                    column_names=names, use_threads=False, block_size=len(data) + 1
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter,
                    quote_char=False,
                    double_quote=False,
                    escape_char=False,
                    newlines_in_values=False,
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    check_utf8=True,
                ),
            )
        except pa.ArrowInvalid:
            return None


def _plain(data: bytes) -> bool:
    """Every line one record: no quote, CR only before LF, no empty line, no NUL."""
    return (
        b'"' not in data
        and b"\x00" not in data
        and data.count(b"\r") == data.count(b"\r\n")
        and not data.startswith((b"\n", b"\r\n"))
        and b"\n\n" not in data
        and b"\n\r\n" not in data
    )


def open_blocks(path: Path, encoding: str, delimiter: str, lines: int) -> CsvBlocks | None:
    """The file's blocks, or None when the columnar reader does not take this file."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return None
    if name not in BLOCK_ENCODINGS or len(delimiter) != 1 or delimiter in '"\r\n':
        return None
    if not delimiter.isascii():
        return None
    blocks = CsvBlocks(path, name, delimiter, lines)
    return blocks if blocks.read_header() else None
