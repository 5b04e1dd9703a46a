"""Generated parts of docs/ must match the code, and every link between the pages must lead
somewhere."""

import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

from ccrqof.columns import spellings_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_recognised_spellings_are_current():
    text = (DOCS / "howto-clinical-system-extract.md").read_text(encoding="utf-8")
    between = text.split("<!-- spellings:start -->\n")[1].split("\n<!-- spellings:end -->")[0]
    assert between == spellings_markdown(), "regenerate with ccrqof.columns.spellings_markdown()"


def test_declared_tables_are_current():
    from ccrqof.schemas import markdown

    text = (DOCS / "explanation-prepare.md").read_text(encoding="utf-8")
    between = text.split("<!-- schemas:start -->\n")[1].split("\n<!-- schemas:end -->")[0]
    assert between == markdown(), "run: python docs/generate.py"


def _help(command: str) -> str:
    from click.testing import CliRunner

    from ccrqof.cli import cli

    result = CliRunner().invoke(cli, [command, "--help"], prog_name="ccrqof", terminal_width=100)
    return result.output.rstrip("\n")


def _block(text: str, name: str) -> str:
    return text.split(f"<!-- {name}:start -->\n```text\n")[1].split("\n```\n<!-- ")[0]


@pytest.mark.parametrize("command", ["calc", "worklist", "explain", "trend"])
def test_cli_reference_shows_current_help(command):
    text = (DOCS / "reference-cli.md").read_text(encoding="utf-8")
    assert _block(text, f"help:{command}") == _help(command), "run: python docs/generate.py"


def test_generated_pack_pages_are_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", DOCS / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    for name, text in generate.pack_pages().items():
        path = DOCS / "packs" / name
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"docs/packs/{name} is stale: run python docs/generate.py"
        )


def _examples(page: str) -> list[tuple[str, str]]:
    """(code, printed) pairs: a ```python block and the ```text block right after it."""
    text = (DOCS / page).read_text(encoding="utf-8")
    pairs = []
    for part in text.split("```python\n")[1:]:
        code, _, rest = part.partition("```\n")
        if rest.lstrip("\n").startswith("```text\n"):
            pairs.append((code, rest.lstrip("\n").removeprefix("```text\n").split("```")[0]))
    return pairs


@pytest.mark.parametrize(
    "code, printed",
    [
        *_examples("explanation-architecture.md"),
        *_examples("howto-contact-this-month.md"),
        *_examples("explanation-measures.md"),
    ],
)
def test_library_examples_print_what_the_page_says(code, printed, monkeypatch, capsys):
    monkeypatch.chdir(DOCS.parent)
    exec(compile(code, "docs example", "exec"), {})
    assert capsys.readouterr().out == printed


# --- every link between the pages leads somewhere ----------------------------------------------

ROOT = DOCS.parent
LINKED_PAGES = sorted(
    {
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "src" / "ccrqof" / "data" / "README.md",
        *DOCS.rglob("*.md"),
        *(ROOT / "sample_data").rglob("README.md"),
    }
)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, spaces to hyphens, punctuation dropped."""
    kept = (c for c in heading.lower() if c in "-_ " or unicodedata.category(c)[0] in "LNM")
    return "".join(kept).replace(" ", "-")


def _anchors_and_links(page: Path) -> tuple[set[str], list[tuple[int, str]]]:
    """A page's heading anchors (a repeated heading gets -1, -2, ... as on GitHub) and its links
    and images, each with its line; markdown-it leaves out code blocks and code spans."""
    tokens = MarkdownIt("commonmark").enable("table").parse(page.read_text(encoding="utf-8"))
    anchors, links, repeats = set(), [], Counter()
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        if token.type == "heading_open":
            words = (c.content for c in following.children if c.type in ("text", "code_inline"))
            anchor = _anchor("".join(words))
            anchors.add(f"{anchor}-{repeats[anchor]}" if repeats[anchor] else anchor)
            repeats[anchor] += 1
        line = token.map[0] + 1 if token.map else 0  # where the paragraph or table cell starts
        for child in token.children or ():
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            target = child.attrs.get("href") or child.attrs.get("src")
            if child.type in ("link_open", "image") and target:
                links.append((line, str(target)))
    return anchors, links


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` to a file that does not exist or a heading its page lacks."""
    broken = []
    for line, href in _anchors_and_links(page)[1]:
        if urlsplit(href).scheme or href.startswith("//"):
            continue  # a web address: not checked offline
        path, _, fragment = href.partition("#")
        target = (page.parent / unquote(path)).resolve() if path else page
        if not target.exists():
            broken.append(f"line {line}: {href} (no such file)")
        elif target.suffix == ".md" and fragment:
            headings = _anchors_and_links(target)[0]
            if unquote(fragment) not in headings:
                broken.append(f"line {line}: {href} (no such heading)")
    return broken


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_the_link_check_reports_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "b.md").write_text("# B page\n\n## Same\n\n## Same\n", encoding="utf-8")
    (tmp_path / "a.md").write_text(
        "# `rows_read`: counts (£)\n\n"
        "[ok](#rows_read-counts-) [ok](b.md#b-page) [ok](b.md#same-1) [web](https://x.org/y.md)\n"
        "[gone](c.md) [no heading](b.md#same-2) [no heading here](#nope)\n\n"
        "```text\n[in a code block](d.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(tmp_path / "a.md") == [
        "line 4: c.md (no such file)",
        "line 4: b.md#same-2 (no such heading)",
        "line 4: #nope (no such heading)",
    ]


# The rule contract once lived outside the repository (pages on the rules, cervical screening and
# data in a shared spec folder), cited by name and section; it is docs/reference-rules.md and
# docs/reference-data.md now.
OLD_CONTRACT = re.compile(r"(?<![\w-])(rules|cervical|data)\.md\b|shared/spec|§\d")


def test_nothing_cites_the_old_contract_outside_the_repository():
    texts = [
        path
        for folder in ("src", "tests", "docs", "benchmarks")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".md", ".yaml", ".sql"}
        and path != Path(__file__).resolve()
        and not path.is_relative_to(ROOT / "benchmarks" / "out")
    ]
    cited = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in [*texts, ROOT / "README.md", ROOT / "CHANGELOG.md"]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OLD_CONTRACT.search(line)
    ]
    assert cited == [], "cite docs/reference-rules.md or docs/reference-data.md instead"
