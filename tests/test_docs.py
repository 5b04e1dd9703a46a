"""Generated parts of docs/ must match the code."""

from pathlib import Path

import pytest

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
