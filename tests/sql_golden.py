"""Golden SQL scripts: every dialect and level for every bundled QOF year, as `ccrqof sql`
prints them (without the version header). A change to the compiler shows up as a diff here.

Regenerate on purpose, then review the diff:

    python tests/sql_golden.py
"""

from __future__ import annotations

from pathlib import Path

from ccrqof.engine.sql.script import DIALECTS, LEVELS, script
from ccrqof.rules import available_years, load_ruleset

GOLDEN = Path(__file__).parent / "golden" / "sql"


def expected() -> dict[Path, str]:
    files = {}
    for year in available_years():
        ruleset = load_ruleset(year=year)
        for dialect in DIALECTS:
            for level in LEVELS:
                header = [f"ccrqof sql --dialect {dialect} --year {year} --level {level}"]
                files[GOLDEN / year / f"{dialect}-{level}.sql"] = script(
                    ruleset, dialect, level, header=header
                )
    return files


def main() -> None:
    files = expected()
    for stale in GOLDEN.glob("*/*.sql"):
        if stale not in files:
            stale.unlink()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} golden scripts under {GOLDEN}")


if __name__ == "__main__":
    main()
