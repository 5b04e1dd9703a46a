"""Run the installed command's entry point in-process, so that user errors become exit codes
exactly as `ccrqof ...` does (click's runner alone would let them escape as exceptions)."""

from __future__ import annotations

import sys

from click.testing import CliRunner

from ccrqof.cli import main

NO_WIDTH = {"COLUMNS": None, "LINES": None}


def run_main(*argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `ccrqof *argv`."""
    saved, code = sys.argv, 0
    with CliRunner().isolation(env=NO_WIDTH) as (out, err, _):
        sys.argv = ["ccrqof", *map(str, argv)]
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = saved
            sys.stdout.flush()
            sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()
