"""Generated parts of docs/ must match the code."""

from pathlib import Path

import pytest

from ccrqof.columns import spellings_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_recognised_spellings_are_current():
    text = (DOCS / "howto-clinical-system-extract.md").read_text(encoding="utf-8")
    between = text.split("<!-- spellings:start -->\n")[1].split("\n<!-- spellings:end -->")[0]
    assert between == spellings_markdown(), "regenerate with ccrqof.columns.spellings_markdown()"


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
