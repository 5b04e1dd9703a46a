"""Snapshot every ccrqof output on fixed synthetic extracts, to prove a refactor changes nothing.

    python benchmarks/snapshot_outputs.py run OUT_DIR [--ccrqof CMD] [--inputs-from DIR]
    python benchmarks/snapshot_outputs.py compare BEFORE_DIR AFTER_DIR

Why: the engine internals are being restructured and the results must stay byte-identical.
`run` on the old code, `run` again on the new code, then `compare` the two folders.

`run` writes deterministic synthetic extracts (`ccrqof.synthetic.make_extract`, fixed seeds)
into OUT_DIR/inputs, one folder per shape, each with an org map:

- csv_patients: 4 practices with a patients file, CSV;
- parquet_patients: the same extract as Parquet (dates as DATE);
- events_only: events and no patients file;
- patients_no_practice: a patients file without a practice_code column;
- no_practice_code: events and patients, neither with a practice_code column (one practice);
- large: 20 practices x 3,000 patients, CSV.

For each it runs the installed `ccrqof` (or --ccrqof CMD, e.g. another venv's binary) in
subprocesses, from OUT_DIR with relative paths so that no message depends on where OUT_DIR is:
calc (json for 2023-24 and as of 2025-06-30, csv, published, parquet, --patients-out, --by pcn
with the org map), worklist (json, csv, as of 2024-01-15, parquet), explain for up to 10
patients chosen from the patients-out file (the first of each outcome of CAN004 and CAN005, then
the first of other deciding rules, then two patients on no register), and trend (json, csv,
parquet) from 2023-01 to 2025-12. OUT_DIR/<input>/<command>.cmd holds the arguments and the exit
status, .stdout and .stderr the streams, and <command>.<file> any file the command wrote. Parquet
files are saved as a text rendering (schema and one JSON line per row), since their bytes also
depend on the writer's version; the rendering shows every value and type exactly.

Normalised: nothing. Two runs of the same code gave byte-identical files (stdout, stderr and
written files; the JSON has no timings, and `ccrqof_version` only changes with the version), so
every file is saved as the command wrote it. Re-check this with a second `run` and `compare`
after changing the commands.

`compare` byte-compares every file of the two folders (inputs included), prints one line per
file and a total, shows the start of a unified diff for each differing text file, and exits 1
on any difference. Patient identifiers in the shown diffs are replaced by <patient id> unless
--show-ids is given. Snapshot files hold (synthetic) patient identifiers; nothing else does.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq

try:
    import ccrqof  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ccrqof.synthetic import make_extract, write_extract  # noqa: E402

REFERENCE = date(2024, 3, 31)
MAX_EXPLAIN = 10
NOT_REGISTERED = 2


@dataclass(frozen=True)
class Shape:
    """One synthetic extract: its size, seed, file format and which columns it lacks."""

    name: str
    practices: int
    patients_per_practice: int
    seed: int
    fmt: str = "csv"
    patients_file: bool = True
    patients_practice: bool = True
    events_practice: bool = True


SHAPES = [
    Shape("csv_patients", 4, 1500, seed=101),
    Shape("parquet_patients", 4, 1500, seed=101, fmt="parquet"),
    Shape("events_only", 3, 1500, seed=102, patients_file=False),
    Shape("patients_no_practice", 3, 1500, seed=103, patients_practice=False),
    Shape("no_practice_code", 1, 3000, seed=104, patients_practice=False, events_practice=False),
    Shape("large", 20, 3000, seed=105),
]


def write_inputs(shape: Shape, folder: Path) -> None:
    """The extract's files and an org map for its practices (3 per PCN, 2 PCNs per ICB)."""
    events, patients = make_extract(
        shape.practices, shape.patients_per_practice, REFERENCE, seed=shape.seed
    )
    practices = sorted(events["practice_code"].unique())
    if not shape.events_practice:
        events = events.drop(columns="practice_code")
    if not shape.patients_practice:
        patients = patients.drop(columns="practice_code")
    write_extract(events, patients, folder, fmt=shape.fmt)
    if not shape.patients_file:
        (folder / f"patients.{shape.fmt}").unlink()
    with open(folder / "org_map.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["practice_code", "pcn_code", "pcn_name", "icb_code", "icb_name"])
        for i, practice in enumerate(practices):
            pcn, icb = i // 3 + 1, i // 6 + 1
            writer.writerow([practice, f"U{pcn:05d}", f"PCN {pcn}", f"Q{icb:02d}", f"ICB {icb}"])


@dataclass
class Command:
    """One ccrqof run: name (file stem), arguments, and files it writes (saved as NAME.<file>)."""

    name: str
    args: list[str]
    files: tuple[str, ...] = ()


def source_args(shape: Shape, inputs: str) -> list[str]:
    """The extract's files as ccrqof arguments."""
    source = [f"{inputs}/events.{shape.fmt}"]
    if shape.patients_file:
        source += ["--patients", f"{inputs}/patients.{shape.fmt}"]
    return source


def base_commands(shape: Shape, inputs: str, out: str) -> list[Command]:
    """Every command of one input except explain (which needs the patients-out file first)."""
    source = source_args(shape, inputs)
    org = f"{inputs}/org_map.csv"

    def cmd(name: str, verb: str, *args: str, files: tuple[str, ...] = ()) -> Command:
        args = [a.replace("{out}", f"{out}/{name}") for a in args]
        return Command(name, [verb, *source, *args], files)

    year = ("--year", "2023-24")
    return [
        cmd("calc_json", "calc", *year, "--format", "json"),
        cmd("calc_json_as_of_2025-06-30", "calc", "--as-of", "2025-06-30", "--format", "json"),
        cmd("calc_csv", "calc", *year, "--format", "csv"),
        cmd("calc_published", "calc", *year, "--format", "published"),
        cmd(
            "calc_patients_out",
            "calc",
            *year,
            "--format",
            "json",
            "--patients-out",
            "{out}.patients.csv",
            files=("patients.csv",),
        ),
        cmd(
            "calc_parquet",
            "calc",
            *year,
            "--format",
            "parquet",
            "--output",
            "{out}.summary.parquet",
            "--patients-out",
            "{out}.patients.parquet",
            files=("summary.parquet", "patients.parquet"),
        ),
        cmd("calc_by_pcn", "calc", *year, "--format", "json", "--by", "pcn", "--org-map", org),
        cmd("worklist_json", "worklist", *year, "--format", "json"),
        cmd("worklist_csv", "worklist", *year, "--format", "csv"),
        cmd("worklist_as_of_2024-01-15", "worklist", "--as-of", "2024-01-15", "--format", "json"),
        cmd(
            "worklist_parquet",
            "worklist",
            *year,
            "--format",
            "parquet",
            "--output",
            "{out}.worklist.parquet",
            files=("worklist.parquet",),
        ),
        cmd("trend_json", "trend", "--from", "2023-01", "--to", "2025-12", "--format", "json"),
        cmd("trend_csv", "trend", "--from", "2023-01", "--to", "2025-12", "--format", "csv"),
        cmd(
            "trend_parquet",
            "trend",
            "--from",
            "2023-01",
            "--to",
            "2025-12",
            "--format",
            "parquet",
            "--output",
            "{out}.trend.parquet",
            files=("trend.parquet",),
        ),
    ]


def explain_choices(patients_out: Path, extract_ids: list[str]) -> list[tuple[str, str]]:
    """(label, patient id) for up to MAX_EXPLAIN patients, in a fixed order: the first row (file
    order) of each CAN004/CAN005 outcome, then of each other (indicator, rule), then the first
    ids of the extract that are on no register."""
    with open(patients_out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    chosen: dict[str, str] = {}  # id -> label

    def pick(label: str, match) -> None:
        for row in rows:
            if match(row):
                if row["patient_id"] not in chosen:
                    chosen[row["patient_id"]] = label
                return

    for indicator in ("CAN004", "CAN005"):
        for outcome in ("numerator", "denominator", "pca", "exclusion"):
            pick(
                f"{indicator}_{outcome}",
                lambda r, i=indicator, o=outcome: (r["indicator"], r["outcome"]) == (i, o),
            )
    for indicator, rule in dict.fromkeys((r["indicator"], r["rule"]) for r in rows):
        if len(chosen) >= MAX_EXPLAIN - NOT_REGISTERED:
            break
        pick(
            f"{indicator}_{rule}",
            lambda r, i=indicator, u=rule: (r["indicator"], r["rule"]) == (i, u),
        )
    picks = list(chosen.items())[: MAX_EXPLAIN - NOT_REGISTERED]
    register = {r["patient_id"] for r in rows}
    others = [i for i in dict.fromkeys(extract_ids) if i not in register][:NOT_REGISTERED]
    labelled = [(label, pid) for pid, label in picks] + [("no_register", i) for i in others]
    return [(f"{n:02d}_{label}", pid) for n, (label, pid) in enumerate(labelled, 1)]


def extract_ids(folder: Path, shape: Shape) -> list[str]:
    """Patient ids in file order: of the patients file, else of the events file."""
    path = folder / f"{'patients' if shape.patients_file else 'events'}.{shape.fmt}"
    if shape.fmt == "parquet":
        return pq.read_table(path, columns=["patient_id"]).column(0).to_pylist()
    with open(path, newline="", encoding="utf-8") as f:
        return [row["patient_id"] for row in csv.DictReader(f)]


def render_parquet(path: Path) -> str:
    """A Parquet file as text: its Arrow schema (without metadata) and one JSON line per row.
    JSON floats are Python's repr, which round-trips, so no value is rounded."""
    table = pq.read_table(path)
    lines = [table.schema.to_string(show_schema_metadata=False), f"rows: {table.num_rows}"]
    lines += [json.dumps(row, default=str) for row in table.to_pylist()]
    return "\n".join(lines) + "\n"


def execute(exe: list[str], root: Path, out: str, command: Command) -> int:
    """Run one command from root; save .cmd (arguments, exit status), .stdout, .stderr and
    the files it wrote (Parquet as text)."""
    proc = subprocess.run([*exe, *command.args], cwd=root, capture_output=True, check=False)
    stem = root / out / command.name
    Path(f"{stem}.stdout").write_bytes(proc.stdout)
    Path(f"{stem}.stderr").write_bytes(proc.stderr)
    Path(f"{stem}.cmd").write_text(
        f"ccrqof {shlex.join(command.args)}\nexit status: {proc.returncode}\n", encoding="utf-8"
    )
    for name in command.files:
        path = Path(f"{stem}.{name}")
        if path.suffix == ".parquet" and path.exists():
            Path(f"{path}.txt").write_text(render_parquet(path), encoding="utf-8")
            path.unlink()
    return proc.returncode


def run(args: argparse.Namespace) -> int:
    root: Path = args.out_dir
    if root.exists() and any(root.iterdir()):
        sys.exit(f"{root} is not empty; give a new folder")
    exe = shlex.split(args.ccrqof)
    found = shutil.which(exe[0]) if exe else None
    if not found:
        sys.exit(f"cannot find {args.ccrqof!r}; give --ccrqof /path/to/venv/bin/ccrqof")
    exe[0] = found
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    version = subprocess.run([*exe, "--version"], capture_output=True, check=True).stdout
    (root / "ccrqof_version.stdout").write_bytes(version)
    print(f"using {shlex.join(exe)}: {version.decode().strip()}", flush=True)

    if args.inputs_from:
        shutil.copytree(args.inputs_from, root / "inputs")
        print(f"inputs copied from {args.inputs_from}", flush=True)
    for shape in SHAPES:
        folder = root / "inputs" / shape.name
        if not args.inputs_from:
            write_inputs(shape, folder)
        if not folder.is_dir():
            sys.exit(f"no inputs for {shape.name} in {args.inputs_from}")

    failures = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for shape in SHAPES:
            inputs, out = f"inputs/{shape.name}", shape.name
            (root / out).mkdir()
            save = partial(execute, exe, root, out)
            codes = list(pool.map(save, base_commands(shape, inputs, out)))
            patients_out = root / out / "calc_patients_out.patients.csv"
            explain = []
            if patients_out.exists():
                ids = extract_ids(root / inputs, shape)
                for label, pid in explain_choices(patients_out, ids):
                    args = ["explain", *source_args(shape, inputs), "--patient", pid]
                    args += ["--year", "2023-24", "--format", "json"]
                    explain.append(Command(f"explain_{label}", args))
            codes += pool.map(save, explain)
            nonzero = sum(code != 0 for code in codes)
            failures += nonzero
            print(
                f"{shape.name}: {len(codes)} commands ({len(explain)} explain), "
                f"{nonzero} with a non-zero exit status",
                flush=True,
            )
    files = sum(1 for p in root.rglob("*") if p.is_file())
    print(f"{files} files in {root}, {time.perf_counter() - start:.0f} s", flush=True)
    if failures:
        print(f"note: {failures} command(s) exited non-zero (recorded in their .cmd files)")
    return 0


def patient_ids(*roots: Path) -> set[str]:
    """Every patient id in the inputs of the snapshot folders (to hide them in shown diffs)."""
    ids: set[str] = set()
    for root in roots:
        for path in sorted((root / "inputs").glob("*/*")):
            if path.name.startswith(("events.", "patients.")):
                if path.suffix == ".parquet":
                    ids.update(pq.read_table(path, columns=["patient_id"]).column(0).to_pylist())
                else:
                    with open(path, newline="", encoding="utf-8") as f:
                        ids.update(row["patient_id"] for row in csv.DictReader(f))
    return ids


def shown_diff(before: bytes, after: bytes, name: str, limit: int, hide: set[str]) -> list[str]:
    try:
        a, b = before.decode("utf-8"), after.decode("utf-8")
    except UnicodeDecodeError:
        return ["    (binary file: contents differ)"]
    diff = list(
        difflib.unified_diff(
            a.splitlines(), b.splitlines(), f"before/{name}", f"after/{name}", n=1, lineterm=""
        )
    )
    lines = [f"    {line[:300]}" for line in diff[:limit]]
    if hide:
        token = re.compile(r"[A-Za-z0-9_.-]+")
        lines = [token.sub(lambda m: "<patient id>" if m[0] in hide else m[0], x) for x in lines]
    if len(diff) > limit:
        lines.append(f"    ... {len(diff) - limit} more diff lines")
    return lines


def compare(args: argparse.Namespace) -> int:
    before, after = args.before, args.after
    for root in (before, after):
        if not root.is_dir():
            sys.exit(f"{root} is not a folder")

    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    names = sorted(files(before) | files(after))
    hide = set() if args.show_ids else patient_ids(before, after)
    counts = {"identical": 0, "DIFFERENT": 0, "only in before": 0, "only in after": 0}
    for name in names:
        a, b = before / name, after / name
        if not b.exists():
            verdict = "only in before"
        elif not a.exists():
            verdict = "only in after"
        else:
            data_a, data_b = a.read_bytes(), b.read_bytes()
            verdict = "identical" if data_a == data_b else "DIFFERENT"
        counts[verdict] += 1
        print(f"{verdict:15} {name}")
        if verdict == "DIFFERENT":
            print("\n".join(shown_diff(data_a, data_b, name, args.max_lines, hide)))
    differing = len(names) - counts["identical"]
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n or k == "identical")
    print(f"total: {len(names)} files: {summary}")
    print("RESULT: identical" if not differing else f"RESULT: {differing} file(s) differ")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p_run = sub.add_parser("run", help="generate the inputs and save every output in OUT_DIR")
    p_run.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a new or empty folder")
    p_run.add_argument(
        "--ccrqof", default="ccrqof", metavar="CMD", help="ccrqof command (default: on PATH)"
    )
    p_run.add_argument(
        "--inputs-from",
        type=Path,
        metavar="DIR",
        help="copy the inputs from DIR (an earlier OUT_DIR/inputs) instead of generating them",
    )
    p_run.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="commands run at once")
    p_cmp = sub.add_parser("compare", help="byte-compare two snapshot folders")
    p_cmp.add_argument("before", type=Path, metavar="BEFORE_DIR")
    p_cmp.add_argument("after", type=Path, metavar="AFTER_DIR")
    p_cmp.add_argument(
        "--max-lines", type=int, default=40, help="diff lines shown per differing file"
    )
    p_cmp.add_argument(
        "--show-ids", action="store_true", help="do not hide patient ids in shown diffs"
    )
    args = parser.parse_args(argv)
    return run(args) if args.action == "run" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
