"""Generated parts of docs/ must match the code."""

from pathlib import Path

from ccrqof.columns import spellings_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_recognised_spellings_are_current():
    text = (DOCS / "howto-clinical-system-extract.md").read_text(encoding="utf-8")
    between = text.split("<!-- spellings:start -->\n")[1].split("\n<!-- spellings:end -->")[0]
    assert between == spellings_markdown(), "regenerate with ccrqof.columns.spellings_markdown()"
