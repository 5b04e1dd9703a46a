"""Time `ccrqof calc` against the same rules as one DuckDB SQL query, at ICB or national scale.

    python benchmarks/bench_national.py [--profile sparse|dense] [--practices 6500]
        [--patients-per-practice 385] [--format parquet|csv] [--runs 1] [--scale 1.0 [0.1 ...]]
        [--stages] [--only ccrqof|duckdb] [--duckdb-memory-limit 6GB]
        [--engine duckdb|python] [--memory-limit 5GB]

--profile sparse (the default) is a whole-list extract where 3% of the events are entries the
rules read (385 patients a practice: 2.5 million patients, 8.1 million events); --profile dense
a cluster-filtered cancer extract where about 90% are (370 patients a practice: 2.4 million
patients, 9.4 million events). For each scale (practices x scale, same list sizes) it generates
the synthetic extract with benchmarks/generate.py in a child process (in parts of 6,500
practices, so memory stays bounded at any scale), or reuses it from benchmarks/out/, which git
ignores; then, each in its own subprocess so that wall time and peak RSS are those of a real run:

- `ccrqof calc EVENTS --patients PATIENTS --year 2023-24 --format json --output ... --quiet`;
- benchmarks/national.sql (CAN001/CAN004/CAN005, 2023-24 rules) in DuckDB over the same files,
  with DuckDB's default threads, writing its per-practice counts to CSV.

The two take turns, --runs rounds, so that a busy spell of the machine falls on both alike.
It then checks that both give the same register, numerator, denominator, PCAs, exclusions and
per-rule breakdown for every practice (exit status 1 if not), and prints the ratio of wall
times. With --format csv it also compares reading both files with pyarrow.csv.read_csv alone and
with ccrqof's validating reader, each in a fresh process. Every run prints the load average of
the machine when it ended: read timings taken under load (more than about 1 a core) with care.
--only runs one side (no agreement check); --duckdb-memory-limit sets DuckDB's memory_limit and
a spill folder (results/duckdb_tmp) for runs bigger than memory; --engine and --memory-limit
are ccrqof's own options (the default engine unless given; its spill folder is results/spill).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import string
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import measure  # noqa: E402

import ccrqof  # noqa: E402
from ccrqof.dates import add_months  # noqa: E402
from ccrqof.engine import DEFAULT_ENGINE, ENGINES  # noqa: E402
from ccrqof.synthetic import PROFILES  # noqa: E402

REFERENCE = dt.date(2024, 3, 31)
CODELIST = HERE.parent / "src" / "ccrqof" / "data" / "illustrative_codelist.csv"
MEASURES = ["register", "numerator", "denominator", "pcas", "exclusions"]
DEFAULT_SIZE = {"sparse": 385, "dense": 370}  # patients a practice: national at 6,500
DUCKDB_CHILD = """
import sys, duckdb
sql, out = open(sys.argv[1]).read(), sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
if len(sys.argv) > 3:  # memory limit and spill folder
    con.execute(f"SET memory_limit = '{sys.argv[3]}'")
    con.execute(f"SET temp_directory = '{sys.argv[4]}'")
con.execute(f"COPY ({sql}) TO '{out}' (HEADER, DELIMITER ',')")
print(con.execute("SELECT current_setting('threads')").fetchone()[0])
"""


def list_size(text: str) -> int | tuple[int, int]:
    lo, sep, hi = text.partition("-")
    return (int(lo), int(hi)) if sep else int(lo)


def extract(
    practices: int, size, seed: int, fmt: str, profile: str = "sparse"
) -> tuple[Path, Path, dict]:
    """events.<fmt> and patients.<fmt> for this size, generated once (by generate.py, in a child
    process so that this process stays small) and cached."""
    label = size if isinstance(size, int) else f"{size[0]}-{size[1]}"
    kind = "" if profile == "sparse" else f"{profile}-"
    folder = HERE / "out" / f"extract-{kind}{practices}x{label}-seed{seed}"
    events, patients = folder / f"events.{fmt}", folder / f"patients.{fmt}"
    meta = folder / "meta.json"
    if not (events.exists() and patients.exists() and meta.exists()):
        print(f"generating {profile}: {practices:,} practices x {label} patients, seed {seed}")
        command = [
            sys.executable,
            str(HERE / "generate.py"),
            str(folder),
            "--profile",
            profile,
            "--practices",
            str(practices),
            "--patients-per-practice",
            str(label),
            "--seed",
            str(seed),
            "--format",
            fmt,
            "--reference-date",
            REFERENCE.isoformat(),
        ]
        wall, rss, out = measured(command, quiet=True)
        print("  " + out.strip().replace("\n", "\n  "))
        print(
            f"  generation: wall {wall:.1f} s, peak RSS {gb(rss)}, load {measure.load()}",
            flush=True,
        )
    return events, patients, json.loads(meta.read_text())


def measured(command: list[str], quiet: bool = False) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes (the command's own: benchmarks/measure.py) and stdout.

    The child's user and system CPU seconds are printed too: on a VM, system time (the kernel
    handing out fresh memory pages) varies a lot from run to run and explains most of the
    spread in wall time. So is the load average (1, 5 and 15 minutes) when it ended."""
    run = measure.measured(command)
    if not quiet:
        print(f"    run: {measure.describe(run)}", flush=True)
    return run.wall, run.peak, run.stdout


def summary(results: list[tuple[float, int, str]]) -> tuple[float, int, str]:
    """Median wall, highest peak RSS and the last stdout of several runs."""
    walls = [r[0] for r in results]
    return statistics.median(walls), max(r[1] for r in results), results[-1][2]


def repeat(command: list[str], runs: int) -> tuple[float, int, str]:
    return summary([measured(command) for _ in range(runs)])


def interleaved(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, int, str]]:
    """Run the commands in turn, `runs` rounds, so that a busy spell of the machine falls on
    each of them alike."""
    results: dict[str, list] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            print(f"  {name}:", flush=True)
            results[name].append(measured(command))
    return {name: summary(got) for name, got in results.items()}


def ccrqof_command(events: Path, patients: Path, output: Path, args) -> list[str]:
    exe = shutil.which("ccrqof")
    head = [exe] if exe else [sys.executable, "-m", "ccrqof"]
    engine = ["--engine", args.engine]
    if args.memory_limit:
        engine += ["--memory-limit", args.memory_limit, "--spill-dir", str(output.parent / "spill")]
    return [
        *head,
        "calc",
        str(events),
        "--patients",
        str(patients),
        "--year",
        "2023-24",
        "--format",
        "json",
        "--output",
        str(output),
        "--quiet",
        *engine,
    ]


def duckdb_sql(events: Path, patients: Path, fmt: str) -> str:
    def source(path: Path) -> str:
        if fmt == "parquet":
            return f"read_parquet('{path}')"
        return f"read_csv('{path}', header = true, all_varchar = true)"

    template = string.Template((HERE / "national.sql").read_text())
    return template.substitute(
        events=source(events), patients=source(patients), codelist=CODELIST, ref=REFERENCE
    )


def check_month_arithmetic() -> None:
    """DuckDB's `date +/- INTERVAL n MONTH` must clamp to month end, as
    docs/reference-rules.md#time requires."""
    cases = [
        ("2024-02-29", -12),
        ("2023-11-30", 3),
        ("2024-05-31", 3),
        ("2024-03-31", -24),
        ("2024-03-31", -15),
        ("2024-03-31", -3),
        ("2023-02-28", 12),
        ("2024-01-31", 1),
    ]
    con = duckdb.connect()
    for day, months in cases:
        ours = str(add_months(np.datetime64(day), months))
        sql = f"SELECT CAST(DATE '{day}' + INTERVAL ({months}) MONTH AS DATE)"
        theirs = str(con.execute(sql).fetchone()[0])
        if ours != theirs:
            sys.exit(f"month arithmetic differs: {day} {months:+d} months: {ours} vs {theirs}")
    print(
        f"month arithmetic: DuckDB and ccrqof agree on {len(cases)} boundary cases "
        "(e.g. 2024-02-29 - 12 months = 2023-02-28)"
    )


def long_ccrqof(path: Path) -> pd.DataFrame:
    """practice_code, indicator, measure, value from ccrqof's JSON document."""
    rows = []
    for result in json.loads(path.read_text())["results"]:
        keys = (result["practice_code"], result["indicator"])
        rows += [(*keys, m, result[m]) for m in MEASURES]
        rows += [(*keys, m, v) for m, v in result["breakdown"].items()]
    long = pd.DataFrame(rows, columns=["practice_code", "indicator", "measure", "value"])
    return long.astype({"value": np.int64})


def long_duckdb(path: Path) -> pd.DataFrame:
    wide = pd.read_csv(path, dtype={"practice_code": str})
    long = wide.melt("practice_code", var_name="column")
    long[["indicator", "measure"]] = long["column"].str.split("_", n=1, expand=True)
    return long[["practice_code", "indicator", "measure", "value"]].astype({"value": np.int64})


def compare(ours: Path, theirs: Path) -> pd.DataFrame:
    """Rows where the two disagree. DuckDB only has practices with a register patient, so a
    practice it lacks counts as all zeros."""
    keys = ["practice_code", "indicator", "measure"]
    both = long_ccrqof(ours).merge(long_duckdb(theirs), on=keys, how="outer", suffixes=("", "_db"))
    both = both.fillna({"value": 0, "value_db": 0})
    return both[both["value"] != both["value_db"]]


def stages(events: Path, patients: Path, engine_name: str) -> dict[str, float]:
    """In-process stage times of one ccrqof run (library API, same steps as the command)."""
    times, t = {}, time.perf_counter()
    ruleset = ccrqof.load_ruleset(year="2023-24")
    engine = ccrqof.get_engine(engine_name)
    read = ccrqof.read_extract(events, patients)
    times["read"], t = time.perf_counter() - t, time.perf_counter()
    prepared = engine.prepare(read, ccrqof.illustrative_codelist(), [ruleset])
    times["prepare"], t = time.perf_counter() - t, time.perf_counter()
    evaluation = engine.evaluate(prepared, ruleset)
    times["evaluate"], t = time.perf_counter() - t, time.perf_counter()
    ccrqof.score(evaluation)
    times["score"] = time.perf_counter() - t
    return times


READ_CHILD = """
import sys, time
import pyarrow.csv as pacsv
import ccrqof
start = time.perf_counter()
if sys.argv[1] == "pyarrow":
    for path in sys.argv[2:]:
        pacsv.read_csv(path)
else:
    ccrqof.read_extract(sys.argv[2], sys.argv[3])
print(time.perf_counter() - start)
"""


def read_only(reader: str, events: Path, patients: Path, runs: int) -> float:
    """Median seconds to read both files, after imports, each run in a fresh process:
    `pyarrow.csv.read_csv` alone, or ccrqof's validating `read_extract`."""
    walls = []
    for _ in range(runs):
        child = [sys.executable, "-c", READ_CHILD, reader, str(events), str(patients)]
        walls.append(float(measured(child)[2]))
    return statistics.median(walls)


def gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def run_scale(args, scale: float) -> dict:
    practices = max(1, round(args.practices * scale))
    size = args.patients_per_practice
    events, patients, info = extract(practices, size, args.seed, args.format, args.profile)
    info = {k: info[k] for k in ("events", "registrations", "patients")}
    print(
        f"\n== {args.profile}, scale {scale:g}: {practices:,} practices, {info['patients']:,} "
        f"patients, {info['events']:,} event rows, {info['registrations']:,} registration rows "
        f"({args.format}; events file {events.stat().st_size / 1e6:,.0f} MB)"
    )
    work = events.parent / "results"
    work.mkdir(exist_ok=True)
    ours, theirs, sql_file = work / "ccrqof.json", work / "duckdb.csv", work / "national.sql"
    sql_file.write_text(duckdb_sql(events, patients, args.format))

    row = {"scale": scale, "practices": practices, **info, "mismatches": 0}
    commands = {}
    if args.only != "duckdb":
        commands["ccrqof"] = ccrqof_command(events, patients, ours, args)
    if args.only != "ccrqof":
        child = [sys.executable, "-c", DUCKDB_CHILD, str(sql_file), str(theirs)]
        if args.duckdb_memory_limit:
            child += [args.duckdb_memory_limit, str(work / "duckdb_tmp")]
        commands["duckdb"] = child
    results = interleaved(commands, args.runs)
    if "ccrqof" in results:
        row["wall"], row["rss"], _ = results["ccrqof"]
        print(
            f"  ccrqof calc ({args.engine}): wall {row['wall']:6.2f} s   peak RSS {gb(row['rss'])}",
            flush=True,
        )
    if "duckdb" in results:
        row["db_wall"], row["db_rss"], threads = results["duckdb"]
        limit = f", memory_limit {args.duckdb_memory_limit}" if args.duckdb_memory_limit else ""
        print(
            f"  DuckDB SQL  : wall {row['db_wall']:6.2f} s   peak RSS {gb(row['db_rss'])}"
            f"   (threads {threads.strip()}{limit})"
        )
    if args.only is None:
        row["ratio"] = row["wall"] / row["db_wall"]
        print(f"  ratio ccrqof/DuckDB wall: {row['ratio']:.2f} (goal <= 1.0)")
    if args.format == "csv" and args.only != "duckdb":
        row["pyarrow"] = read_only("pyarrow", events, patients, args.runs)
        row["read"] = read_only("ccrqof", events, patients, args.runs)
        print(
            f"  reading both CSV files: pyarrow.csv.read_csv {row['pyarrow']:.2f} s, ccrqof "
            f"read_extract (validating) {row['read']:.2f} s = {row['read'] / row['pyarrow']:.2f}x "
            f"(goal <= 2); the whole ccrqof calc is {row['wall'] / row['pyarrow']:.2f}x"
        )
    if args.stages:
        parts = stages(events, patients, args.engine)
        print("  in-process stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
        row["stages"] = parts
    if args.only is None:
        agreement(row, ours, theirs)
    return row


def agreement(row: dict, ours: Path, theirs: Path) -> None:
    bad = compare(ours, theirs)
    row["mismatches"] = len(bad)
    n = len({r["practice_code"] for r in json.loads(ours.read_text())["results"]})
    m = pd.read_csv(theirs, usecols=["practice_code"], dtype=str)["practice_code"].nunique()
    if len(bad):
        print(f"  AGREEMENT: {len(bad):,} differing counts; first few:")
        print(bad.head(12).to_string(index=False))
    else:
        print(
            f"  agreement: all counts equal for {n:,} practices ({m:,} with a register patient "
            "in DuckDB's result) x CAN001/CAN004/CAN005 (register, numerator, denominator, "
            "PCAs, exclusions, per-rule breakdown)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="sparse")
    parser.add_argument("--practices", type=int, default=6500)
    parser.add_argument(
        "--patients-per-practice",
        type=list_size,
        default=None,
        help="one number, or a range LO-HI drawn per practice (default: 385 sparse, 370 dense)",
    )
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--runs", type=int, default=1, help="repeats; the median wall is shown")
    parser.add_argument(
        "--scale",
        type=float,
        nargs="+",
        default=[1.0],
        help="size factors, e.g. --scale 0.1 1 to show linear growth, --scale 10 for 10x",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=tuple(ENGINES), default=DEFAULT_ENGINE)
    parser.add_argument(
        "--memory-limit", metavar="SIZE", help="ccrqof's --memory-limit (DuckDB engine), e.g. 5GB"
    )
    parser.add_argument("--stages", action="store_true", help="also time ccrqof's stages")
    parser.add_argument(
        "--only", choices=("ccrqof", "duckdb"), help="run one side only (no agreement check)"
    )
    parser.add_argument(
        "--duckdb-memory-limit",
        metavar="SIZE",
        help="DuckDB's memory_limit (e.g. 6GB), spilling to results/duckdb_tmp",
    )
    args = parser.parse_args()
    if args.patients_per_practice is None:
        args.patients_per_practice = DEFAULT_SIZE[args.profile]

    print(
        f"machine: {os.cpu_count()} cores, load average {measure.load()} (other work skews timings)"
    )
    print(
        f"python {sys.version.split()[0]}, ccrqof "
        f"{ccrqof.__version__}, duckdb {duckdb.__version__}, pandas {pd.__version__}"
    )
    check_month_arithmetic()
    rows = [run_scale(args, scale) for scale in args.scale]
    if len(rows) > 1:
        print("\nlinear growth (relative to the smallest run):")
        base = rows[0]
        for r in rows[1:]:
            size = r["events"] / base["events"]
            ours = f"ccrqof {r['wall'] / base['wall']:.2f}x the time, " if "wall" in r else ""
            theirs = f"DuckDB {r['db_wall'] / base['db_wall']:.2f}x" if "db_wall" in r else ""
            print(f"  {size:.2f}x the events: {ours}{theirs}")
    if any(r["mismatches"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
