"""Files that drop into the next tool (ccrqof.reporters.files).

- Parquet: every column typed for Power BI, never Arrow's untyped null.
- CSV: byte-plain by default; for Excel, a BOM and identifiers as `="00123"`.
- xlsx: real numbers, dates and percentages; identifiers and "=..." text stay text.
- html: a standalone, accessible page with every value escaped.
- One file per PCN: names, sanitising, the same columns and schema in each, the folder's checks.
- A failed write leaves the old files and no partial or temporary file.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import io
import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from ccrqof.errors import OutputError, UsageError
from ccrqof.output import check_folder, together
from ccrqof.reporters.files import write_split, write_table

BOM = b"\xef\xbb\xbf"
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x")'


def table() -> pd.DataFrame:
    """What trips the next tool: leading zeros, an 18-digit SNOMED code, an accent, an all-empty
    column, nullable counts, fractions, ISO dates beside text that is not a date."""
    return pd.DataFrame(
        {
            "practice_code": ["A81001", "A81001", "P/2 x", None],
            "patient_id": ["00123", "2", "3", "4"],
            "code": ["999000011000230000", "1", "2", "3"],
            "ods": ["0456", "789", "", None],  # an identifier by its content only
            "plain_digits": ["12", "34", "56", "78"],  # digits Excel keeps as they are
            "name": ["Zoë", "a", SCRIPT, FORMULA],
            "note": [None, None, None, None],
            "register": pd.array([27, None, 3, 4], dtype="Int64"),
            "achievement": [0.852, None, 1.0, 0.5],
            "due_by": ["2024-03-31", None, "not yet", "2024-02-30"],
            "paid": [True, False, True, False],
        }
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- format ---------------------------------------------------------------------------------------


def test_the_format_comes_from_the_suffix_or_fmt(tmp_path):
    write_table(table(), tmp_path / "a.PQ")
    assert pq.read_schema(tmp_path / "a.PQ").field("register").type == pa.int64()
    write_table(table(), tmp_path / "b.out", "xlsx")
    with open(tmp_path / "b.out", "rb") as book:  # openpyxl goes by the suffix; not we
        assert load_workbook(book).active["A1"].value == "practice_code"
    with pytest.raises(UsageError, match=r"c\.txt: use a name ending in \.csv, .* or \.htm"):
        write_table(table(), tmp_path / "c.txt")
    with pytest.raises(UsageError, match="unknown file format 'xls'"):
        write_table(table(), tmp_path / "d.csv", "xls")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.PQ", "b.out"]


# --- parquet --------------------------------------------------------------------------------------


def test_parquet_columns_are_all_typed(tmp_path):
    write_table(table(), tmp_path / "t.parquet")
    schema = pq.read_schema(tmp_path / "t.parquet")
    assert {f.name: f.type for f in schema} == {
        "practice_code": pa.string(),
        "patient_id": pa.string(),
        "code": pa.string(),
        "ods": pa.string(),
        "plain_digits": pa.string(),
        "name": pa.string(),
        "note": pa.string(),  # all empty: string, not Arrow's null type
        "register": pa.int64(),
        "achievement": pa.float64(),
        "due_by": pa.string(),
        "paid": pa.bool_(),
    }
    read = pq.read_table(tmp_path / "t.parquet")
    assert read.column("register").to_pylist() == [27, None, 3, 4]
    assert read.column("note").to_pylist() == [None] * 4
    assert read.column("patient_id").to_pylist() == ["00123", "2", "3", "4"]


def test_parquet_types_say_what_the_frame_cannot(tmp_path):
    frame = pd.DataFrame(
        {
            "note": [None, None],
            "counted": [1.0, None],
            "big": ["123456789012345678", ""],  # exact: never through a float
            "day": ["2024-03-31", None],
            "stamp": pd.to_datetime(["2024-03-31", None]),
            "flag": ["true", "FALSE"],
            "snomed": [123456789012345678, 5],
        }
    )
    types = {
        "note": "int64",
        "counted": "int64",
        "big": "int64",
        "day": "date",
        "stamp": "date",
        "flag": "bool",
        "snomed": "string",
        "absent": "float64",  # a column this table lacks: skipped
    }
    write_table(frame, tmp_path / "t.parquet", types=types)
    read = pq.read_table(tmp_path / "t.parquet")
    assert {f.name: f.type for f in read.schema} == {
        "note": pa.int64(),
        "counted": pa.int64(),
        "big": pa.int64(),
        "day": pa.date32(),
        "stamp": pa.date32(),
        "flag": pa.bool_(),
        "snomed": pa.string(),
    }
    assert read.to_pydict() == {
        "note": [None, None],
        "counted": [1, None],
        "big": [123456789012345678, None],
        "day": [dt.date(2024, 3, 31), None],
        "stamp": [dt.date(2024, 3, 31), None],
        "flag": [True, False],
        "snomed": ["123456789012345678", "5"],
    }


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["1", "SECRET-9"], "int64"),
        (["1", "2.5"], "int64"),
        (["1.5", "SECRET"], "float64"),
        (["true", "SECRET"], "bool"),
        (["2024-03-31", "SECRET"], "date"),
        (["2024-03-31", "2024-13-01"], "date"),
        ([pd.Timestamp("2024-03-31 10:30"), None], "date"),
    ],
)
def test_a_value_that_does_not_fit_its_type_names_the_column_only(tmp_path, values, kind):
    frame = pd.DataFrame({"field": values})
    with pytest.raises(UsageError) as raised:
        write_table(frame, tmp_path / "t.parquet", types={"field": kind})
    assert f"column 'field' cannot be written as {kind}" in str(raised.value)
    assert "SECRET" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_type_and_a_mixed_column_are_refused(tmp_path):
    with pytest.raises(UsageError, match="unknown type 'integer'; use one of string, int64"):
        write_table(table(), tmp_path / "t.parquet", types={"register": "integer"})
    with pytest.raises(UsageError, match="column 'mixed' mixes kinds of values"):
        write_table(pd.DataFrame({"mixed": ["a", 1]}), tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


# --- csv ------------------------------------------------------------------------------------------


def test_csv_is_byte_plain_without_the_flag(tmp_path):
    frame = pd.DataFrame(
        {"patient_id": ["00123", "7"], "name": ["Zoë", "a,b"], "n": pd.array([1, None], "Int64")}
    )
    write_table(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == (
        'patient_id,name,n\n00123,Zoë,1\n7,"a,b",\n'.encode()
    )


def read_csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def test_excel_friendly_csv_has_a_bom_and_keeps_identifiers_as_text(tmp_path):
    write_table(table(), tmp_path / "t.csv", excel_friendly=True)
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw.startswith(BOM) and not raw.startswith(BOM * 2)
    rows = read_csv_rows(tmp_path / "t.csv")
    assert [r["patient_id"] for r in rows] == ['="00123"', '="2"', '="3"', '="4"']
    assert rows[0]["code"] == '="999000011000230000"'
    assert [r["practice_code"] for r in rows] == ['="A81001"', '="A81001"', '="P/2 x"', ""]
    assert [r["ods"] for r in rows] == ['="0456"', '="789"', "", ""]  # blanks stay blank
    assert [r["plain_digits"] for r in rows] == ["12", "34", "56", "78"]
    assert [r["register"] for r in rows] == ["27", "", "3", "4"]
    assert rows[0]["name"] == "Zoë"


def test_which_digit_columns_excel_would_change(tmp_path):
    frame = pd.DataFrame(
        {
            "sixteen": ["1234567890123456", "5"],  # more digits than Excel keeps
            "fifteen": ["123456789012345", "5"],  # Excel keeps these
            "zero": ["0", "10"],  # a lone 0 is the number 0 either way
            "mixed": ["0123", "12a"],  # not all digits: Excel keeps it as text anyway
            "member_id": pd.array([7, None], "Int64"),  # by name, a whole-number column
            "quoted": ['a"b', "c"],
        }
    )
    frame = frame.rename(columns={"quoted": "ref_code"})
    write_table(frame, tmp_path / "t.csv", excel_friendly=True)
    rows = read_csv_rows(tmp_path / "t.csv")
    assert rows[0] == {
        "sixteen": '="1234567890123456"',
        "fifteen": "123456789012345",
        "zero": "0",
        "mixed": "0123",
        "member_id": '="7"',
        "ref_code": '="a""b"',  # Excel's own escape for a quote inside a formula's text
    }
    assert rows[1]["member_id"] == ""


# --- xlsx -----------------------------------------------------------------------------------------


def test_xlsx_cells_have_their_types_and_formats(tmp_path):
    path = tmp_path / "summary.xlsx"
    write_table(table(), path, title="QOF 2023-24 summary")
    book = load_workbook(path)
    sheet = book.active
    assert book.properties.title == "QOF 2023-24 summary"
    assert sheet.title == "summary"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:K5"
    assert [c.value for c in sheet[1]] == list(table().columns)
    assert all(c.font.b for c in sheet[1])
    cells = {c.column_letter: c for c in sheet[2]}
    assert (cells["B"].value, cells["B"].data_type, cells["B"].number_format) == ("00123", "s", "@")
    assert (cells["C"].value, cells["C"].data_type) == ("999000011000230000", "s")
    assert (cells["D"].value, cells["D"].data_type) == ("0456", "s")
    assert (cells["H"].value, cells["H"].data_type) == (27, "n")
    assert (cells["I"].value, cells["I"].number_format) == (0.852, "0.0%")
    assert cells["J"].value == dt.datetime(2024, 3, 31)
    assert cells["J"].number_format == "yyyy-mm-dd"
    assert (cells["K"].value, cells["K"].data_type) == (True, "b")
    assert cells["G"].value is None
    assert [sheet[f"J{row}"].value for row in (3, 4, 5)] == [None, "not yet", "2024-02-30"]
    assert (sheet["F5"].value, sheet["F5"].data_type) == (FORMULA, "s")  # text, not a formula
    assert sheet["A5"].value is None


def test_xlsx_widths_fit_the_content_up_to_a_cap(tmp_path):
    frame = pd.DataFrame({"n": [1, 22], "words": ["x" * 30, "y"], "essay": ["z" * 500, ""]})
    write_table(frame, tmp_path / "t.xlsx")
    widths = {
        k: d.width for k, d in load_workbook(tmp_path / "t.xlsx").active.column_dimensions.items()
    }
    assert 3 <= widths["A"] < 10
    assert 30 < widths["B"] < 40
    assert widths["C"] == 60


def test_xlsx_sheet_names_follow_excels_rules(tmp_path):
    path = tmp_path / "'PCN [North]: A*B?C — a rather long name.xlsx"
    write_table(table(), path)
    assert load_workbook(path).active.title == "PCN _North__ A_B_C — a rather l"
    write_table(table(), tmp_path / "History.xlsx")
    assert load_workbook(tmp_path / "History.xlsx").active.title == "History_"


def test_xlsx_refuses_control_characters_before_writing(tmp_path):
    frame = pd.DataFrame({"name": ["ok", "bell\x07"]})
    with pytest.raises(UsageError, match="column 'name' holds control characters"):
        write_table(frame, tmp_path / "t.xlsx")
    assert list(tmp_path.iterdir()) == []


# --- html -----------------------------------------------------------------------------------------


class Page(HTMLParser):
    """Tags with their attributes, the declaration, and the text of each element of interest."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.declarations: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.texts: dict[str, list[str]] = {}
        self.cells: list[tuple[str, dict, str]] = []
        self._open: list[tuple[str, dict, list[str]]] = []
        self.feed(text)
        self.close()

    def handle_decl(self, decl):
        self.declarations.append(decl)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br"):
            self._open.append((tag, dict(attrs), []))

    def handle_endtag(self, tag):
        name, attrs, parts = self._open.pop()
        assert name == tag
        text = "".join(parts)
        self.texts.setdefault(tag, []).append(text)
        if tag in ("td", "th"):
            self.cells.append((tag, attrs, text))

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)

    def column(self, index: int) -> list[str]:
        width = sum(1 for tag, _, _ in self.cells if tag == "th")
        data = [text for tag, _, text in self.cells if tag == "td"]
        return data[index::width]


def test_html_is_a_standalone_accessible_page(tmp_path):
    write_table(table(), tmp_path / "t.html", title="PCN <North> & co")
    source = (tmp_path / "t.html").read_text(encoding="utf-8")
    page = Page(source)
    assert [d.lower() for d in page.declarations] == ["doctype html"]
    tags = dict(page.tags)
    assert tags["html"] == {"lang": "en"}
    assert {"charset": "utf-8"} in [a for t, a in page.tags if t == "meta"]
    assert any(a.get("name") == "viewport" for t, a in page.tags if t == "meta")
    assert page.texts["title"] == page.texts["h1"] == ["PCN <North> & co"]
    assert "PCN &lt;North&gt; &amp; co" in source
    assert [t for t, _ in page.tags].count("table") == 1
    assert page.texts["caption"] == ["PCN <North> & co: 4 rows"]
    heads = [(attrs.get("scope"), text) for tag, attrs, text in page.cells if tag == "th"]
    assert heads == [("col", c) for c in table().columns]
    assert not {t for t, _ in page.tags} & {"script", "link", "img", "iframe", "object"}
    assert not any({"src", "href"} & attrs.keys() for _, attrs in page.tags)


def test_html_values_are_escaped_formatted_and_aligned(tmp_path):
    write_table(table(), tmp_path / "t.html")
    page = Page((tmp_path / "t.html").read_text(encoding="utf-8"))
    columns = list(table().columns)
    assert page.column(columns.index("name")) == ["Zoë", "a", SCRIPT, FORMULA]
    assert page.column(columns.index("achievement")) == ["85.2%", "", "100.0%", "50.0%"]
    assert page.column(columns.index("register")) == ["27", "", "3", "4"]
    assert page.column(columns.index("note")) == [""] * 4
    assert page.column(columns.index("patient_id")) == ["00123", "2", "3", "4"]
    right = {text for tag, attrs, text in page.cells if attrs.get("class") == "num"}
    assert {"register", "achievement", "27", "85.2%"} <= right
    assert not {"name", "patient_id", "00123", "Zoë"} & right
    assert page.texts["title"] == ["t"]  # no title given: the file's name


# --- one file per PCN -----------------------------------------------------------------------------


def test_split_writes_one_file_per_code_with_every_column(tmp_path):
    frame = table()
    frame.loc[4] = frame.loc[0]
    frame.loc[4, ["practice_code", "patient_id"]] = ["(not in org map)", "5"]
    frame.loc[5] = frame.loc[0]
    frame.loc[5, ["practice_code", "patient_id"]] = ["  ", "6"]
    written = write_split(frame, "practice_code", tmp_path / "pcn", "csv")
    assert [p.name for p in written] == ["A81001.csv", "P_2_x.csv", "not-in-org-map.csv"]
    assert sorted(p.name for p in (tmp_path / "pcn").iterdir()) == sorted(p.name for p in written)
    parts = {p.name: pd.read_csv(p, dtype=str, keep_default_na=False) for p in written}
    for part in parts.values():
        assert list(part.columns) == list(frame.columns)
    assert list(parts["A81001.csv"]["patient_id"]) == ["00123", "2"]
    assert list(parts["P_2_x.csv"]["practice_code"]) == ["P/2 x"]  # the value itself unchanged
    assert list(parts["not-in-org-map.csv"]["patient_id"]) == ["4", "5", "6"]
    assert sum(len(p) for p in parts.values()) == len(frame)


def test_split_titles_name_each_code(tmp_path):
    written = write_split(table(), "practice_code", tmp_path / "pcn", "html", title="QOF 2023-24")
    titles = [Page(p.read_text(encoding="utf-8")).texts["h1"] for p in written]
    assert titles == [
        ["QOF 2023-24 — A81001"],
        ["QOF 2023-24 — P/2 x"],
        ["QOF 2023-24 — not in the organisation map"],
    ]


def test_split_parquet_files_share_one_schema(tmp_path):
    frame = table()
    frame["sometimes"] = [None, None, None, "only here"]  # empty in every file but one
    written = write_split(frame, "practice_code", tmp_path / "pcn", "parquet")
    schemas = [pq.read_schema(p).remove_metadata() for p in written]
    assert all(s.equals(schemas[0]) for s in schemas)
    assert schemas[0].field("sometimes").type == pa.string()
    assert schemas[0].field("register").type == pa.int64()


def test_split_excel_friendly_quotes_the_same_columns_in_every_file(tmp_path):
    """ "ods" has a leading zero only in the A81001 rows: the P/2 x file quotes its 42 too."""
    frame = table()
    frame.loc[2, "ods"] = "42"
    written = write_split(frame, "practice_code", tmp_path / "pcn", "csv", excel_friendly=True)
    assert read_csv_rows(written[1])[0]["ods"] == '="42"'
    assert all(p.read_bytes().startswith(BOM) for p in written)


@pytest.mark.parametrize("codes", [["A/1", "A_1"], ["ab", "AB"], ["not-in-org-map", None]])
def test_codes_that_would_share_a_file_are_refused(tmp_path, codes):
    frame = pd.DataFrame({"pcn_code": codes, "n": [1, 2]})
    with pytest.raises(UsageError, match="two different pcn_code values would both be written"):
        write_split(frame, "pcn_code", tmp_path / "pcn", "csv")
    assert not (tmp_path / "pcn").exists() or list((tmp_path / "pcn").iterdir()) == []


def test_split_by_a_missing_column_is_refused(tmp_path):
    with pytest.raises(UsageError, match="cannot split the table by 'icb_code'"):
        write_split(table(), "icb_code", tmp_path / "icb", "csv")


def test_split_replaces_its_own_files_and_leaves_the_rest(tmp_path):
    folder = tmp_path / "pcn"
    folder.mkdir()
    (folder / "A81001.csv").write_text("stale\n")
    (folder / "B99999.csv").write_text("last month\n")
    (folder / "notes.txt").write_text("mine\n")
    write_split(table(), "practice_code", folder, "csv")
    assert (folder / "A81001.csv").read_text().startswith("practice_code,")
    assert (folder / "B99999.csv").read_text() == "last month\n"
    assert (folder / "notes.txt").read_text() == "mine\n"


# --- the folder's checks --------------------------------------------------------------------------


def test_check_folder(tmp_path):
    (tmp_path / "a_file").write_text("x\n")
    os.mkfifo(tmp_path / "a_fifo")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "there").mkdir()
    assert check_folder(tmp_path / "there") == tmp_path / "there"
    assert check_folder(tmp_path / "new", "--split-folder") == tmp_path / "new"
    assert not (tmp_path / "new").exists()  # checked, not made
    refusals = {
        "a_file": "--split-folder {p} is a file, not a folder",
        "a_fifo": "--split-folder {p} is a FIFO, not a folder",
        "dangling": "--split-folder {p} is a symbolic link to nothing",
        "no/such": "--split-folder {p}: the folder {q} does not exist",
    }
    for name, message in refusals.items():
        path = tmp_path / name
        with pytest.raises(UsageError) as raised:
            check_folder(path, "--split-folder")
        assert str(raised.value).startswith(message.format(p=path, q=path.parent))


def test_split_into_a_file_is_refused_and_the_file_kept(tmp_path):
    (tmp_path / "pcn").write_text("keep me\n")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        write_split(table(), "practice_code", tmp_path / "pcn", "csv")
    assert (tmp_path / "pcn").read_text() == "keep me\n"


def test_split_makes_one_missing_folder_not_a_tree(tmp_path):
    write_split(table(), "practice_code", tmp_path / "pcn", "xlsx")
    assert (tmp_path / "pcn" / "A81001.xlsx").is_file()
    with pytest.raises(UsageError, match="does not exist"):
        write_split(table(), "practice_code", tmp_path / "a" / "b", "xlsx")
    assert not (tmp_path / "a").exists()


def test_read_only_folder_is_named(tmp_path, monkeypatch):
    """Root ignores permission bits, so os.access is made to say no."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p).name == "ro" else real(p, m))
    (tmp_path / "ro").mkdir()
    with pytest.raises(UsageError, match="cannot write to the folder .*ro: Permission denied"):
        check_folder(tmp_path / "ro")


# --- all or nothing -------------------------------------------------------------------------------


def test_split_files_wait_for_the_end_of_the_run(tmp_path):
    folder = tmp_path / "pcn"
    with together():
        write_split(table(), "practice_code", folder, "csv")
        assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".tmp")) == []
    assert sorted(p.name for p in folder.iterdir()) == [
        "A81001.csv",
        "P_2_x.csv",
        "not-in-org-map.csv",
    ]


def test_a_run_that_fails_after_the_split_publishes_none_of_it(tmp_path):
    folder = tmp_path / "pcn"
    folder.mkdir()
    (folder / "A81001.csv").write_text("last run\n")
    with pytest.raises(RuntimeError), together():
        write_split(table(), "practice_code", folder, "csv")
        raise RuntimeError("a later step fails")
    assert sorted(p.name for p in folder.iterdir()) == ["A81001.csv"]
    assert (folder / "A81001.csv").read_text() == "last run\n"


@pytest.fixture
def small_disk(tmp_path):
    """A fresh 256 kB tmpfs, unmounted afterwards. Needs root with CAP_SYS_ADMIN, as our CI has:
    without it the test fails rather than skips."""
    folder = tmp_path / "disk"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.fail(f"cannot mount a tmpfs for this test: {done.stderr.strip()}")
    yield folder
    if subprocess.run(["umount", str(folder)]).returncode:
        subprocess.run(["umount", "-l", str(folder)], check=True)


NO_NOISE = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


@NO_NOISE
def test_a_split_that_fills_the_disk_publishes_nothing(small_disk):
    """A81001 (one row) is written first and fits; B82002 (a megabyte) does not."""
    (small_disk / "A81001.csv").write_text("last run\n")
    frame = pd.DataFrame(
        {"practice_code": ["A81001"] + ["B82002"] * 20_000, "text": ["x" * 50] * 20_001}
    )
    with pytest.raises(OutputError, match=r"B82002\.csv: No space left on device"):
        write_split(frame, "practice_code", small_disk, "csv")
    assert sorted(p.name for p in small_disk.iterdir()) == ["A81001.csv"]
    assert (small_disk / "A81001.csv").read_text() == "last run\n"


@NO_NOISE  # no "Exception ignored" tracebacks from a half-written file's clean-up
@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx", "html"])
def test_a_table_that_fills_the_disk_leaves_the_old_file(small_disk, fmt):
    target = small_disk / f"summary.{fmt}"
    target.write_text("last run\n")
    filler = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(filler, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(filler)
    with pytest.raises(OutputError, match=f"summary.{fmt}: No space left on device"):
        write_table(table(), target)
    assert target.read_text() == "last run\n"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", target.name]
