"""Every ugly input through every evaluating command (issue 11: no crash, ever).

`tests/test_ugly_inputs.py` checks what `calc` makes of each file; `worklist`, `explain` and
`trend` read the same inputs through the same readers but then take their own paths (a patient's
timeline, a deadline window, a series of month ends), where an odd value could still end in a
traceback. Here each of them must exit 0, 1 or 2, print no traceback, and echo no row value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from entry import run_main
from test_ugly_inputs import ALL_CASES, FIXTURES, resolve, row_values
from test_ugly_inputs import parquet_dir as parquet_dir  # the fixture, shared

COMMANDS = {
    "worklist": ("worklist", "--year", "2023-24", "--within", "90"),
    "explain": ("explain", "--year", "2023-24", "--patient", "PIDSECRET01", "--format", "json"),
    "trend": ("trend", "--from", "2024-01", "--to", "2024-03", "--format", "csv"),
}


ORG_MAP_COMMANDS = {"trend"}  # the others take no --org-map


@pytest.mark.parametrize(
    ("case", "command"),
    [
        pytest.param(c, command, id=f"{c.file}-{command}")
        for c in ALL_CASES
        for command in COMMANDS
        if "--org-map" not in c.args or command in ORG_MAP_COMMANDS
    ],
)
def test_no_command_crashes_on_an_ugly_input(case, command, parquet_dir) -> None:
    main_file = resolve(case.events or case.file, parquet_dir)
    args = [a.replace("FIXTURE/", f"{FIXTURES}/") for a in case.args]
    name, *options = COMMANDS[command]
    code, out, err = run_main(name, main_file, *args, *options)
    assert "Traceback" not in err and "Exception ignored" not in err
    assert code in (0, 1, 2), (code, err)
    if case.error is not None:
        assert code == 2 and err.startswith("Error: "), err
    else:
        # explain may not find PIDSECRET01 in a file whose rows are all rejected; the others run
        assert code == 0 or (command == "explain" and "no patient" in err), err
    inputs = [main_file] + [Path(a) for a in args if a.startswith(str(FIXTURES))]
    for value in sorted(set().union(*(row_values(p) for p in inputs))):
        assert value not in err, f"a row value reached stderr: {value!r}"
