"""Files to Arrow tables of text, with the physical source line of every row.

CSV is read by pyarrow with every column as text (ids keep their leading zeros), the delimiter
and encoding detected, and broken rows set aside with their line numbers instead of failing the
whole file. Parquet keeps its types; values.py turns them into text or dates.

No Python code runs on pyarrow's threads: text in another encoding is turned into UTF-8 here
first, and rows are only set aside (a Python callback) in a single-threaded read. An error can
then never leave pyarrow calling back into an interpreter that is shutting down (which aborts
the process).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ccrqof.columns import ALIASES, looks_like_header, normalise
from ccrqof.errors import InputError

DELIMITERS = (",", "\t", ";")
_DATE_SPELLINGS = {
    spelling
    for name in ("date", "registration_date", "deregistration_date")
    for spelling in (normalise(name), *ALIASES[name])
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FALLBACK_ENCODING = "cp1252"  # what Excel on Windows writes when it does not write UTF-8
# More columns than any extract has: beyond this the delimiter or the header row is wrong, and
# pyarrow would spend minutes and gigabytes on a table of them.
MAX_COLUMNS = 10_000
# A .gz file may expand to GZIP_MAX_RATIO times its size, or to GZIP_FREE_BYTES whatever its
# size. CSV extracts compress 5 to 20 times; more than 100 times past 256 MiB is a damaged or
# hostile archive (a "gzip bomb"), and reading on would fill the memory.
GZIP_MAX_RATIO = 100
GZIP_FREE_BYTES = 256 << 20
_CHUNK = 16 << 20  # bytes decompressed or transcoded at a time
_MAX_BLOCK = (1 << 31) - 1  # pyarrow's largest block: the longest record it can read


@dataclass
class SourceTable:
    """A file's rows as Arrow data, and what the reader had to set aside or say."""

    file: str
    table: pa.Table
    # physical line of every row of `table`; None: the row's position plus `first_line`
    line_numbers: np.ndarray | None = None
    broken: list[tuple[int, str]] = field(default_factory=list)  # (line, raw text)
    blank_lines: int = 0
    notices: list[str] = field(default_factory=list)
    first_line: int = 1  # Parquet counts rows from 1, as a spreadsheet shows them; CSV from 2

    @property
    def lines(self) -> np.ndarray:
        if self.line_numbers is None:
            return np.arange(self.first_line, self.table.num_rows + self.first_line)
        return self.line_numbers

    def lines_of(self, rows: np.ndarray) -> np.ndarray:
        if self.line_numbers is None:
            return rows + self.first_line
        return self.line_numbers[rows]


_NOT_SPACE = re.compile(rb"\S")


def _header(data: bytes, path: Path) -> tuple[list[str], str]:
    """Column names and delimiter from the whole first line of UTF-8 `data`, however long."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if _NOT_SPACE.search(data, start) is None:
        raise InputError("is empty: expected a header row and data rows", file=str(path))
    if data.startswith(b"PK\x03\x04"):
        raise InputError(
            "is a zip archive (an Excel .xlsx file?), not a CSV file: save it as CSV",
            file=str(path),
        )
    end = data.find(b"\n", start)
    line = data[start : end if end >= 0 else len(data)].decode("utf-8", errors="replace")
    line = line.rstrip("\r")
    if not line.strip():  # rows would be numbered from the wrong line, and a name is missing
        raise InputError(
            "starts with a blank line: the first line must be the header row (column names)",
            file=str(path),
        )
    delimiter = max(DELIMITERS, key=line.count)
    try:
        names = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a name longer than the csv module's field limit (128 KiB)
        raise InputError(
            "has a header row that cannot be read as column names", file=str(path)
        ) from None
    return [n.strip() for n in names], delimiter


def check_names(names: list[str], file: str) -> None:
    """At most MAX_COLUMNS columns, each name once (a name is how a column is chosen)."""
    if len(names) > MAX_COLUMNS:
        raise InputError(
            f"has {len(names):,} columns, more than the {MAX_COLUMNS:,} ccrqof reads: is the "
            "header row (or the delimiter) what you expect?",
            file=file,
        )
    counts = Counter(names)
    dup = sorted(n for n, k in counts.items() if k > 1)
    if dup:
        known = {spelling for spellings in ALIASES.values() for spelling in spellings}
        if all(normalise(n) in known for n in dup):  # a known column name, never a value
            raise InputError(
                f"has more than one column named {', '.join(map(repr, dup))}", file=file
            )
        # the "header" may be a data row: say where the repeats are, not what they are
        where = "; ".join(
            "columns " + ", ".join(str(i + 1) for i, n in enumerate(names) if n == d) for d in dup
        )
        raise InputError(
            f"has more than one column of the same name ({where}, counting from 1): rename "
            "them, or is the header row missing?",
            file=file,
        )


def _iso_date_columns(data: bytes, names: list[str], delimiter: str) -> tuple[str, ...]:
    """Date columns whose first rows hold only ISO dates (or blanks). pyarrow parses these
    while it reads, on every core; a later value it cannot parse sends the file back to the
    text path, where values.py finds the format and rejects what fits none."""
    candidates = [i for i, name in enumerate(names) if normalise(name) in _DATE_SPELLINGS]
    if not candidates:
        return ()
    body = data.find(b"\n") + 1
    if not body:
        return ()
    text = data[body : body + (1 << 16)].decode("utf-8", errors="replace")
    lines = text.splitlines()[:100]
    try:
        rows = [
            r for r in csv.reader(lines[:-1] or lines, delimiter=delimiter) if len(r) == len(names)
        ]
    except csv.Error:  # a huge or odd value: leave it to pyarrow and the text path
        return ()
    chosen = []
    for i in candidates:
        values = [row[i].strip() for row in rows]
        if any(values) and all(v == "" or _ISO_DATE.match(v) for v in values):
            chosen.append(names[i])
    return tuple(chosen)


def _read_csv(
    data: bytes,
    names: list[str],
    delimiter: str,
    quoted: bool,
    dates: tuple[str, ...],
    threads: bool,
    block: int | None,
) -> tuple[pa.Table, list]:
    """One pyarrow read of UTF-8 `data`. Threaded reads stop at the first broken row (no
    Python callback on pyarrow's threads); a single-threaded read sets broken rows aside."""
    invalid: list = []

    def set_aside(row) -> str:
        invalid.append(row)  # broken rows, and lines of only spaces (blank, counted as such)
        return "skip"

    read_options = pacsv.ReadOptions(use_threads=threads, column_names=names, skip_rows=1)
    if block is not None:
        read_options.block_size = block
    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=read_options,
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=quoted,
            ignore_empty_lines=False,
            invalid_row_handler=None if threads else set_aside,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={
                name: pa.date32() if name in dates else pa.large_string() for name in names
            },
            null_values=[""],  # only a blank date is missing ("NA" is unreadable, as text)
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, invalid


class _NotUtf8(Exception):
    """pyarrow found bytes that are not UTF-8."""


def _parse(data: bytes, path: Path) -> tuple[pa.Table, list, bool]:
    """The table, the rows set aside, and whether any value is quoted (and may hold line
    breaks). Each retry reads the file again with one thing changed."""
    names, delimiter = _header(data, path)
    check_names(names, str(path))
    quoted = data.find(b'"') >= 0  # only quoted values can hold line breaks
    dates = _iso_date_columns(data, names, delimiter)
    threads, block = True, None
    while True:
        try:
            table, invalid = _read_csv(data, names, delimiter, quoted, dates, threads, block)
            return table, invalid, quoted
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "UTF8" in message.upper().replace("-", ""):
                raise _NotUtf8 from None
            if dates and "conversion error" in message:
                dates = ()  # not every date is ISO: read them all as text
            elif "straddl" in message and block is None:
                block = min(len(data) + 1, _MAX_BLOCK)  # a record longer than a block (1 MiB)
            elif threads:
                # broken rows: read again in one thread, setting them aside. pyarrow hands a
                # broken row to Python as UTF-8 text (and fails on one that is not): check first
                if not _is_utf8(data):
                    raise _NotUtf8 from None
                threads = False
            else:
                raise InputError(
                    "is not a readable CSV file (a structural error pyarrow could not "
                    "recover from)",
                    file=str(path),
                ) from None


def _is_utf8(data: bytes) -> bool:
    """Checked a chunk at a time: one copy of a big file is enough."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    try:
        for i in range(0, len(data), _CHUNK):
            decoder.decode(view[i : i + _CHUNK], final=i + _CHUNK >= len(data))
    except UnicodeDecodeError:
        return False
    return True


def _encoding(data: bytes, encoding: str | None, notices: list[str], path: Path) -> str:
    if encoding is not None:
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            info = None
        if info is None or not getattr(info, "_is_text_encoding", True):  # base64, zlib...
            raise InputError(f"unknown --encoding {encoding!r}; try utf-8 or cp1252") from None
        return info.name
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        notices.append(f"{path.name} is UTF-16 (Excel 'Unicode Text'); read it as such")
        return "utf-16"
    return "utf-8"


def _to_utf8(data: bytes, encoding: str, path: Path) -> bytes:
    """The text as UTF-8, decoded here a chunk at a time rather than by pyarrow, whose decoder
    would call Python from its threads."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    view = memoryview(data)
    try:
        parts = [
            decoder.decode(view[i : i + _CHUNK], final=i + _CHUNK >= len(data)).encode("utf-8")
            for i in range(0, len(data), _CHUNK)
        ]
    except UnicodeError:
        raise InputError(
            f"cannot be read as {encoding}; give its encoding with --encoding "
            "(e.g. utf-8, cp1252, utf-16)",
            file=str(path),
        ) from None
    return b"".join(parts)


# A report's preamble (search title, run date, blank lines) is looked for in this many lines
# and bytes at the top of a file: clinical systems write a handful.
PREAMBLE_MAX_LINES = 100
PREAMBLE_MAX_BYTES = 1 << 20


def _lines(data: bytes, start: int):
    """(offset, text) of the file's lines from `start`, within the preamble's limits."""
    first = start
    for _ in range(PREAMBLE_MAX_LINES + 1):
        if start - first > PREAMBLE_MAX_BYTES:
            return
        end = data.find(b"\n", start)
        text = data[start : end if end >= 0 else len(data)].decode("utf-8", errors="replace")
        yield start, text.rstrip("\r")
        if end < 0:
            return
        start = end + 1


def _cells(line: str) -> list[str]:
    delimiter = max(DELIMITERS, key=line.count)
    try:
        return [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter), [])]
    except csv.Error:  # a name longer than the csv module's field limit: not a header we know
        return []


def _preamble(
    data: bytes, path: Path, skip_rows: int | None, explicit: dict[str, str] | None
) -> tuple[int, int]:
    """(byte offset, lines) of what comes before the header row. `skip_rows` given: that many
    lines. Else the header is the first line that names a patient id and another column we read
    (`looks_like_header`), if the first line does not: the lines above it are a report's title,
    run date and the like. With no such line, the first line stays the header (and the usual
    errors say what is wrong with it): never a guess."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if skip_rows is not None:
        offset = start
        for _ in range(skip_rows):
            end = data.find(b"\n", offset)
            offset = len(data) if end < 0 else end + 1
        if skip_rows and _NOT_SPACE.search(data, offset) is None:
            raise InputError(
                f"has no header row below the {skip_rows:,} line(s) that --skip-rows skips",
                file=str(path),
            )
        if skip_rows and not next(_lines(data, offset))[1].strip():
            raise InputError(
                f"line {skip_rows + 1}, below the {skip_rows:,} line(s) that --skip-rows "
                "skips, is blank: it should be the header row (column names)",
                file=str(path),
            )
        return (offset if skip_rows else 0), skip_rows
    for number, (offset, line) in enumerate(_lines(data, start)):
        if looks_like_header(_cells(line), explicit):
            return offset if number else 0, number
    return 0, 0


def read_csv(
    path: Path,
    encoding: str | None = None,
    skip_rows: int | None = None,
    explicit: dict[str, str] | None = None,
) -> SourceTable:
    """Read a CSV (or .csv.gz) as text; UTF-8 (BOM or not), else Windows-1252 with a notice.
    Lines above the header row (`skip_rows`, or a report's preamble found by `_preamble`) are
    skipped; rows keep the file's own line numbers."""
    notices: list[str] = []
    data = read_bytes(path)
    chosen = _encoding(data, encoding, notices, path)
    if chosen != "utf-8":
        data = _to_utf8(data, chosen, path)
    offset, skipped = _preamble(data, path, skip_rows, explicit)
    if offset:
        data = data[offset:]  # a copy, made only for a file with a preamble
    if skipped and skip_rows is None:
        notices.append(
            f"{path.name}: the header row is line {skipped + 1}; the {skipped} line(s) above "
            "it (a report's title, run date or blank lines) were skipped. Use --skip-rows to "
            "choose how many lines to skip"
        )
    source = _read_text(path, data, encoding, chosen, notices)
    return _shifted(source, skipped) if skipped else source


def _shifted(source: SourceTable, lines: int) -> SourceTable:
    """Line numbers of a file read from below its first `lines` lines, as in the file."""
    if source.line_numbers is None:
        source.first_line += lines
    else:
        source.line_numbers = source.line_numbers + lines
    source.broken = [(line + lines, text) for line, text in source.broken]
    return source


def _read_text(
    path: Path, data: bytes, encoding: str | None, chosen: str, notices: list[str]
) -> SourceTable:
    try:
        table, invalid, quoted = _parse(data, path)
    except _NotUtf8:
        if encoding is not None:
            raise InputError(
                f"is not valid {chosen}; give its encoding with --encoding", file=str(path)
            ) from None
        data = _to_utf8(data, FALLBACK_ENCODING, path)
        notices.append(
            f"{path.name} is not UTF-8; read it as Windows-1252 (use --encoding to choose another)"
        )
        table, invalid, quoted = _parse(data, path)
    if not quoted:  # no line breaks inside values: every line is a record
        return _with_lines(path, table, invalid, notices, None)
    lines_in_file = data.count(b"\n") + (not data.endswith(b"\n"))
    return _with_lines(path, table, invalid, notices, lines_in_file)


def _embedded_newlines(table: pa.Table) -> np.ndarray:
    counts = np.zeros(table.num_rows, np.int64)
    for column in table.columns:
        if _is_text(column):
            counts += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
    return counts


def _is_text(column: pa.ChunkedArray) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def _empty(column: pa.ChunkedArray) -> np.ndarray:
    blank = pc.equal(column, "") if _is_text(column) else pc.is_null(column)
    return blank.to_numpy(zero_copy_only=False)


def read_bytes(path: Path) -> bytes:
    """The file's bytes (unzipped). Held whole: Python's byte search finds a quote, or counts
    line ends, at memory speed."""
    try:
        if path.suffix.lower() == ".gz":
            return _gunzip(path)
        with open(path, "rb") as fh:
            return fh.read()
    except EOFError:
        raise InputError(
            "cannot be read: its compressed data ends early (was the download cut short?)",
            file=str(path),
        ) from None
    except (zlib.error, gzip.BadGzipFile):
        raise InputError(
            "cannot be read: its compressed data is damaged (not a valid gzip stream)",
            file=str(path),
        ) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.__class__.__name__})", file=str(path)) from None


def _gunzip(path: Path) -> bytes:
    """Unzip a chunk at a time, and stop once the text passes GZIP_MAX_RATIO times the file's
    size and GZIP_FREE_BYTES: memory stays bounded whatever the archive claims."""
    limit = max(GZIP_FREE_BYTES, GZIP_MAX_RATIO * path.stat().st_size)
    parts, size = [], 0
    with gzip.open(path, "rb") as fh:
        while part := fh.read(_CHUNK):
            size += len(part)
            if size > limit:
                raise InputError(
                    f"unzips to more than {GZIP_MAX_RATIO} times its size (and over "
                    f"{GZIP_FREE_BYTES >> 20} MiB): not read, as that is the mark of a damaged "
                    "or malicious archive; if it is genuine, unzip it and give the CSV file",
                    file=str(path),
                )
            parts.append(part)
    return b"".join(parts)


def _with_lines(
    path: Path, table: pa.Table, invalid: list, notices: list[str], lines_in_file: int | None
) -> SourceTable:
    """Physical line of each row: its record number plus the newlines quoted inside earlier
    records (a value with a line break spans several lines of the file)."""
    n = table.num_rows
    blank = _blank_rows(table)
    if not invalid and lines_in_file in (None, n + 1) and not blank.any():
        return SourceTable(str(path), table, None, [], 0, notices, first_line=2)
    bad_records = np.array([row.number for row in invalid], dtype=np.int64)
    spaces = np.array([not row.text.strip() for row in invalid], dtype=bool)
    records = np.arange(2, n + len(invalid) + 2)  # record 1 is the header
    valid_records = np.setdiff1d(records, bad_records, assume_unique=True)
    if lines_in_file in (None, len(records) + 1):  # no quoted line breaks: lines are records
        lines = valid_records
        broken = [(int(r), row.text) for r, row in zip(bad_records, invalid, strict=True)]
    else:
        newlines = np.zeros(len(records) + 2, np.int64)
        newlines[valid_records] = _embedded_newlines(table)
        newlines[bad_records] = [row.text.count("\n") for row in invalid]
        before = np.cumsum(newlines) - newlines
        lines = valid_records + before[valid_records]
        broken = [
            (int(r + before[r]), row.text) for r, row in zip(bad_records, invalid, strict=True)
        ]
    if blank.any():
        table, lines = table.filter(pa.array(~blank)), lines[~blank]
    broken = [b for b, only_spaces in zip(broken, spaces, strict=True) if not only_spaces]
    return SourceTable(str(path), table, lines, broken, int(blank.sum() + spaces.sum()), notices)


def _blank_rows(table: pa.Table) -> np.ndarray:
    """A blank line is a row of empty cells; look at the first column, then confirm."""
    blank = np.zeros(table.num_rows, bool)
    if table.num_rows and table.num_columns:
        maybe = _empty(table.column(0))
        if maybe.any():
            blank = maybe.copy()
            for column in table.columns[1:]:
                blank &= _empty(column)
    return blank


def read_parquet(path: Path) -> SourceTable:
    try:
        check_names(pq.read_schema(path).names, str(path))
        # INT96 timestamps (Spark, Impala) read as nanoseconds wrap silently outside 1677-2262
        table = pq.read_table(path, coerce_int96_timestamp_unit="ms")
    except MemoryError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"is not a readable Parquet file ({exc.__class__.__name__})", file=str(path)
        ) from None
    check_text(table, str(path))
    # A Parquet "line" is the row's position counted from 1, as a spreadsheet would show it.
    return SourceTable(str(path), table)


def check_text(table: pa.Table, file: str) -> None:
    """Parquet text columns are not checked for UTF-8 when read; bytes that are not text
    would garble or break everything after, so say which column holds them."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            try:
                column.validate(full=True)
            except pa.ArrowInvalid:
                raise InputError(
                    "holds text that is not valid UTF-8 (is the file damaged?)",
                    file=file,
                    column=name,
                ) from None


def read_table(
    path: str | Path,
    encoding: str | None = None,
    *,
    skip_rows: int | None = None,
    explicit: dict[str, str] | None = None,
) -> SourceTable:
    """Any supported file, or one plain sentence saying why not. A CSV file's header row is
    below `skip_rows` lines, or found (see `_preamble`; `explicit`, the ``--column`` choices,
    name columns too); Parquet has no lines above its columns."""
    path = Path(path)
    if not path.exists():
        raise InputError("does not exist", file=str(path))
    if path.is_dir():
        raise InputError("is a folder; give a CSV or Parquet file", file=str(path))
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes[-1:] in ([".parquet"], [".pq"]):
        source = read_parquet(path)
    elif (
        suffixes[-1:] in ([".csv"], [".txt"], [".tsv"])
        or suffixes[-2:] in ([".csv", ".gz"], [".txt", ".gz"], [".tsv", ".gz"])
        or not path.is_file()  # a pipe or device (<(zcat ...), /dev/stdin, /dev/null): text
    ):
        source = read_csv(path, encoding, skip_rows, explicit)
    else:
        raise InputError(
            "has an unsupported file type: expected .csv, .csv.gz, .tsv, .txt or .parquet",
            file=str(path),
        )
    if source.table.num_rows == 0 and not source.broken:
        raise InputError("has a header but no rows", file=str(path))
    return source
