"""Regenerate the generated parts of docs/ (tests/test_docs.py fails when they are stale).

python docs/generate.py
"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from ccrqof.cli import cli
from ccrqof.columns import spellings_markdown

DOCS = Path(__file__).resolve().parent


def replace(path: Path, name: str, body: str, fenced: bool) -> None:
    text = path.read_text(encoding="utf-8")
    inner = f"```text\n{body}\n```" if fenced else body
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)", re.S)
    path.write_text(pattern.sub(lambda m: m.group(1) + inner + m.group(2), text), encoding="utf-8")


def main() -> None:
    for command in ("calc", "worklist", "explain", "trend"):
        help_text = (
            CliRunner()
            .invoke(cli, [command, "--help"], prog_name="ccrqof", terminal_width=100)
            .output
        )
        replace(DOCS / "reference-cli.md", f"help:{command}", help_text.rstrip("\n"), True)
    replace(DOCS / "howto-clinical-system-extract.md", "spellings", spellings_markdown(), False)


if __name__ == "__main__":
    main()
