"""Nothing lost, nothing crashes: the outputs' side.

- No output is written onto an input, however either is spelled, and two outputs never share a file.
- Links, FIFOs, devices, sockets and folders are refused as outputs, never replaced.
- A missing, read-only or full folder ends in one `Error:` line naming the path and the cause, with
  no temporary file left and old outputs whole.
- Standard output that cannot be written ends in one `Error:` line, a closed pipe quietly.
- An interrupt at any moment leaves only complete outputs and says `Interrupted`, nothing else.
- Every summary file says which reference date and rules made it.

Failures are real ones where the system allows: tmpfs mounts (full, read-only), RLIMIT_FSIZE,
/dev/full, a pipe without a reader, real signals. We run as root, so permission bits stop nothing; a
test that cannot set up its failure fails, it never skips.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from entry import run_main
from test_cli import TWO_PRACTICES, Run, write_csv

import ccrqof
from ccrqof.organisations import ORG_COLUMNS
from ccrqof.synthetic import make_extract, write_extract

NO_WIDTH = ("COLUMNS", "LINES")
YEAR = ("--year", "2023-24")
NOISE = ("Traceback", "Exception ignored")


def run(*argv) -> Run:
    """`ccrqof *argv` in-process through the console script's error handling."""
    code, stdout, stderr = run_main(*argv)
    for noise in NOISE:
        assert noise not in stderr
    return Run(code, stdout, stderr)


def process(*argv, cwd: Path | None = None, **popen) -> subprocess.CompletedProcess:
    """`python -m ccrqof *argv` in its own process: real exit status, real streams."""
    env = {k: v for k, v in os.environ.items() if k not in NO_WIDTH}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    popen.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "ccrqof", *map(str, argv)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        **popen,
    )


def snapshot(root: Path) -> dict:
    """Every entry under root: kind, inode and content, so any write, replacement or stray
    temporary file shows as a difference."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        else:
            content = None
        found[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_ino, content)
    return found


def refused(argv: list, root: Path, *fragments: str) -> Run:
    """The run is a usage error naming the problem, and nothing under root changed."""
    before = snapshot(root)
    result = run(*argv)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.warnings
    assert snapshot(root) == before
    return result


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A folder of inputs, the current directory for the run (so that relative spellings work)."""
    write_csv(tmp_path / "data" / "events.csv", TWO_PRACTICES)
    write_csv(tmp_path / "data" / "more" / "events2.csv", TWO_PRACTICES)
    write_csv(tmp_path / "patients.csv", "patient_id,registration_date\nPIDSECRET01,2000-01-01\n")
    write_csv(tmp_path / "refset.txt", "Cluster_ID\tSNOMED_code\nCAN_COD\t254837009\n")
    write_csv(tmp_path / "clusters" / "CAN_COD.csv", "code\n254837009\n")
    write_csv(tmp_path / "org.csv", "practice_code,pcn_code\nA81001,P1\n")
    write_csv(tmp_path / "rules" / "2023-24" / "CAN004.yaml", "indicator: CAN004\n")
    dataset = tmp_path / "dataset"
    for practice in ("A81001", "B82002"):
        table = pa.table({"patient_id": ["1"], "code": ["254837009"], "date": ["2023-06-01"]})
        (dataset / f"practice_code={practice}").mkdir(parents=True)
        pq.write_table(table, dataset / f"practice_code={practice}" / "part-0.parquet")
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- 1. no output onto an input -------------------------------------------------------------------


SAME_FILE = "is the input file"
WOULD_READ = "would read it as input"
PATTERN = "matches the input pattern"

# (events and other inputs, output option and path, what the message says)
ONTO_INPUTS = {
    "same spelling": (["data/events.csv"], ["--output", "data/events.csv"], SAME_FILE),
    "dot and dot-dot": (["data/events.csv"], ["--output", "./data/more/../events.csv"], SAME_FILE),
    "absolute against relative": (
        ["data/events.csv"],
        ["--output", "@/data/events.csv"],
        SAME_FILE,
    ),
    "patients-out onto events": (
        ["data/events.csv"],
        ["--patients-out", "data/events.csv"],
        SAME_FILE,
    ),
    "rejects onto events": (["data/events.csv"], ["--rejects", "data/events.csv"], SAME_FILE),
    "hard link": (["data/events.csv"], ["--output", "out/hard.csv"], SAME_FILE),
    "symbolic link": (["data/events.csv"], ["--output", "out/link.csv"], SAME_FILE),
    "file in an input folder": (["data"], ["--output", "data/more/events2.csv"], WOULD_READ),
    "new data file in an input folder": (["data"], ["--output", "data/summary.csv"], WOULD_READ),
    "input folder through a link": (["data"], ["--output", "out/data-link/new.csv.gz"], WOULD_READ),
    "quoted glob, existing match": (["data/*.csv"], ["--output", "data/events.csv"], PATTERN),
    "quoted glob, new match": (["data/*.csv"], ["--output", "data/summary.csv"], PATTERN),
    "recursive glob": (["data/**/*.csv"], ["--output", "data/more/new.csv"], PATTERN),
    "shell-expanded glob": (
        ["data/events.csv", "data/more/events2.csv"],
        ["--rejects", "data/more/events2.csv"],
        SAME_FILE,
    ),
    "partitioned dataset": (
        ["dataset"],
        ["--patients-out", "dataset/practice_code=A81001/patients.parquet"],
        WOULD_READ,
    ),
    "--patients": (
        ["data/events.csv", "--patients", "patients.csv"],
        ["--output", "patients.csv"],
        SAME_FILE,
    ),
    "--codelists file": (
        ["data/events.csv", "--codelists", "refset.txt"],
        ["--output", "refset.txt"],
        SAME_FILE,
    ),
    "--codelists folder": (
        ["data/events.csv", "--codelists", "clusters"],
        ["--output", "clusters/CAN_COD.csv"],
        WOULD_READ,
    ),
    "--codelists folder, new file": (
        ["data/events.csv", "--codelists", "clusters"],
        ["--rejects", "clusters/rejects.csv"],
        WOULD_READ,
    ),
    "--org-map": (
        ["data/events.csv", "--org-map", "org.csv"],
        ["--patients-out", "org.csv"],
        SAME_FILE,
    ),
    "--rules": (
        ["data/events.csv", "--rules", "rules"],
        ["--output", "rules/2023-24/CAN004.yaml"],
        WOULD_READ,
    ),
}


@pytest.mark.parametrize("case", ONTO_INPUTS, ids=list(ONTO_INPUTS))
def test_no_output_is_written_onto_an_input(work, case):
    inputs, (option, output), message = ONTO_INPUTS[case]
    os.link(work / "data" / "events.csv", work / "out" / "hard.csv")
    (work / "out" / "link.csv").symlink_to(work / "data" / "events.csv")
    (work / "out" / "data-link").symlink_to(work / "data")
    output = output.replace("@", str(work))
    argv = ["calc", *inputs, *YEAR, "--format", "csv", option, output]
    if "--org-map" in inputs:
        argv += ["--by", "pcn"]
    refused(argv, work, option, message)


@pytest.mark.parametrize("command", ["worklist", "explain", "trend"])
def test_every_command_refuses_to_write_onto_its_input(work, command):
    extra = {
        "worklist": [*YEAR],
        "explain": [*YEAR, "--patient", "PIDSECRET01"],
        "trend": ["--from", "2024-01", "--to", "2024-03"],
    }[command]
    refused([command, "data/events.csv", *extra, "--output", "data/events.csv"], work, SAME_FILE)


def test_trend_chart_is_never_drawn_onto_an_input(work):
    # an org map may have any name: an .svg one is still an input
    (work / "org.svg").write_bytes((work / "org.csv").read_bytes())
    argv = ["trend", "data/events.csv", "--from", "2024-01", "--to", "2024-03"]
    refused([*argv, "--org-map", "org.svg", "--chart", "org.svg"], work, "--chart", SAME_FILE)


def test_outputs_are_checked_before_anything_is_read(work):
    # a broken extract would be an input error if it were read first
    write_csv(work / "broken" / "events.csv", "practice_code,patient_id\nA81001,1\n")
    result = refused(
        ["calc", "broken", *YEAR, "--format", "csv", "--output", "broken/summary.csv"],
        work,
        WOULD_READ,
    )
    assert "column" not in result.warnings


@pytest.mark.parametrize(
    ("inputs", "output"),
    [
        (["data/events.csv"], "data/summary.csv"),  # beside a named file: not read next time
        (["data"], "data/summary.json"),  # in an input folder, but not a data file
        (["data/*.csv"], "data/more/summary.csv"),  # the pattern does not reach it
        (["data/*.csv"], "out/events.csv"),  # same name, another folder
    ],
)
def test_outputs_that_are_not_inputs_are_written(work, inputs, output):
    result = run("calc", *inputs, *YEAR, "--format", "json", "--output", output)
    assert result.exit_code == 0, result.stderr
    assert json.loads(Path(output).read_text())["ruleset"] == "2023-24"


# --- 2. two outputs, one file ---------------------------------------------------------------------

SHARED = {
    "output and patients-out": ["--output", "out/a.csv", "--patients-out", "out/a.csv"],
    "output and rejects, two spellings": ["--output", "out/a.csv", "--rejects", "./out/a.csv"],
    "patients-out and rejects": ["--patients-out", "out/p.parquet", "--rejects", "@/out/p.parquet"],
    "hard-linked old outputs": ["--output", "out/old.csv", "--rejects", "out/old-link.csv"],
}


@pytest.mark.parametrize("case", SHARED, ids=list(SHARED))
def test_two_outputs_of_one_run_may_not_share_a_file(work, case):
    (work / "out" / "old.csv").write_text("old\n")
    os.link(work / "out" / "old.csv", work / "out" / "old-link.csv")
    options = [o.replace("@", str(work)) for o in SHARED[case]]
    refused(
        ["calc", "data/events.csv", *YEAR, "--format", "csv", *options],
        work,
        options[0],
        options[2],
        "name the same file",
    )


def test_trend_output_and_chart_may_not_share_a_file(work):
    argv = ["trend", "data/events.csv", "--from", "2024-01", "--to", "2024-03"]
    refused([*argv, "--output", "out/t.svg", "--chart", "out/t.svg"], work, "--output", "--chart")


# --- 3. links, FIFOs, devices, sockets and folders ------------------------------------------------


def _special(kind: str, path: Path) -> None:
    if kind == "symbolic link":
        path.parent.joinpath("target.csv").write_text("the link's target\n")
        path.symlink_to("target.csv")
    elif kind == "dangling link":
        path.symlink_to("nowhere.csv")
    elif kind == "FIFO":
        os.mkfifo(path)
    elif kind == "device":
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a null device of our own
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(os.path.relpath(path))  # a short name: socket paths are limited to 107 bytes
        sock.close()
    else:
        path.mkdir()


SPECIAL = {
    "symbolic link": "symbolic link",
    "dangling link": "symbolic link",
    "FIFO": "a FIFO",
    "device": "a device",
    "socket": "a socket",
    "folder": "is a folder",
}


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("option", ["--output", "--patients-out", "--rejects", "--chart"])
def test_special_files_are_refused_and_left_alone(work, kind, option):
    name = "x.svg" if option == "--chart" else "x.csv"
    path = work / "out" / name
    _special(kind, path)
    if option == "--chart":
        argv = ["trend", "data/events.csv", "--from", "2024-01", "--to", "2024-03"]
    else:
        argv = ["calc", "data/events.csv", *YEAR, "--format", "csv"]
    refused([*argv, option, f"out/{name}"], work, option, SPECIAL[kind])
    assert not (work / "out" / "nowhere.csv").exists()


# --- 4. folders that cannot be written, disks that fill up ----------------------------------------


@pytest.mark.parametrize("option", ["--output", "--patients-out", "--rejects", "--chart"])
def test_missing_folder_is_named_before_any_work(work, option):
    name = "missing/x.svg" if option == "--chart" else "missing/x.csv"
    if option == "--chart":
        argv = ["trend", "data/events.csv", "--from", "2024-01", "--to", "2024-03"]
    else:
        argv = ["calc", "data/events.csv", *YEAR, "--format", "csv"]
    refused([*argv, option, name], work, option, "the folder missing does not exist")


@pytest.fixture
def mount(tmp_path):
    """mount(name, options): a fresh tmpfs under tmp_path, unmounted afterwards. Needs root with
    CAP_SYS_ADMIN, as our CI has: without it the test fails rather than skips."""
    mounted = []

    def make(name: str, options: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.fail(f"cannot mount a tmpfs for this test: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)]).returncode:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def _fill(folder: Path) -> None:
    """Write until the file system says it is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_read_only_folder_is_named_before_any_work(work, mount):
    folder = mount("ro", "ro,size=1m")
    broken = write_csv(work / "broken.csv", "practice_code,patient_id\nA81001,1\n")
    result = refused(
        ["calc", broken, *YEAR, "--format", "json", "--output", folder / "summary.json"],
        work,
        "--output",
        f"cannot write to the folder {folder}: Read-only file system",
    )
    assert "column" not in result.warnings  # the extract was never read


FULL_DISK = {
    "json summary": ["calc", "--format", "json", "--output", "@/summary.json"],
    "csv summary": ["calc", "--format", "csv", "--output", "@/summary.csv"],
    "parquet patients": ["calc", "--patients-out", "@/patients.parquet"],
    "rejects": ["calc", "--rejects", "@/rejects.csv"],
    "chart": ["trend", "--from", "2024-01", "--to", "2024-03", "--chart", "@/chart.png"],
}


@pytest.mark.parametrize("case", FULL_DISK, ids=list(FULL_DISK))
def test_full_disk_is_one_error_line_and_the_old_output_survives(work, mount, case):
    folder = mount("full", "size=256k")
    command, *options = [o.replace("@", str(folder)) for o in FULL_DISK[case]]
    target = Path(options[-1])
    target.write_text("the previous run's output\n")
    _fill(folder)
    dates = () if command == "trend" else YEAR
    result = run(command, "data/events.csv", *dates, "-q", *options)
    assert result.exit_code == 2
    assert f"Error: cannot write {target}: No space left on device" in result.warnings
    assert target.read_text() == "the previous run's output\n"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["filler", target.name])


def test_file_size_limit_is_one_error_line_with_nothing_left(work):
    """RLIMIT_FSIZE makes a write past 2 kB fail with EFBIG (SIGXFSZ ignored, as Python does)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    done = process(
        "calc",
        "data/events.csv",
        *YEAR,
        "--format",
        "json",
        "--output",
        "out/summary.json",
        cwd=work,
        preexec_fn=limit,
    )
    assert done.returncode == 2, done.stderr
    assert "Error: cannot write out/summary.json: File too large" in done.stderr
    assert not any(noise in done.stderr for noise in NOISE)
    assert list((work / "out").iterdir()) == []


def test_permission_denied_is_named(work, monkeypatch):
    """Root ignores permission bits, so os.access is made to say no (the only patched failure
    here; read-only and full file systems above are real)."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p).name == "out" else real(p, m))
    refused(
        ["calc", "data/events.csv", *YEAR, "--format", "csv", "--output", "out/s.csv"],
        work,
        "cannot write to the folder out: Permission denied",
    )


# --- 4b. standard output that cannot be written ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "table"])  # click's echo, rich's console
def test_standard_output_on_a_full_device_is_one_error_line(work, fmt):
    with open("/dev/full", "w") as full:
        done = process("calc", "data/events.csv", *YEAR, "--format", fmt, cwd=work, stdout=full)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "Error: cannot write to standard output: No space left on device"
    )
    assert not any(noise in done.stderr for noise in NOISE)


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_closed_pipe_on_standard_output_ends_quietly(work, fmt):
    """`ccrqof calc ... | head -1` with head gone: exit 1 (as click and rich do), no noise."""
    read, write = os.pipe()
    os.close(read)
    done = process("calc", "data/events.csv", *YEAR, "--format", fmt, cwd=work, stdout=write)
    os.close(write)
    assert done.returncode == 1
    assert not any(noise in done.stderr for noise in NOISE)
    assert "Error" not in done.stderr


# --- 5. interrupts --------------------------------------------------------------------------------


def test_entry_point_imports_nothing_heavy():
    """The signal handlers go in before pandas and pyarrow load (most of a short run)."""
    code = "import json, sys, ccrqof.entry; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert not loaded & {"pandas", "pyarrow", "numpy", "click", "rich", "pydantic", "yaml"}


def test_public_names_still_work_when_loaded_lazily():
    for name in ccrqof.__all__:
        assert getattr(ccrqof, name) is not None, name
    assert set(ccrqof.__all__) <= set(dir(ccrqof))
    from ccrqof import CcrqofError, get_engine, score  # noqa: F401

    with pytest.raises(AttributeError):
        ccrqof.no_such_name  # noqa: B018


def test_console_script_is_the_entry_point():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="ccrqof")
    assert script.value == "ccrqof.entry:main"


@pytest.fixture(scope="module")
def extract(tmp_path_factory) -> Path:
    """A synthetic extract that takes a few tenths of a second to score after the imports, with
    a rejected row."""
    folder = tmp_path_factory.mktemp("extract")
    events, patients = make_extract(n_practices=6, patients_per_practice=2000, seed=3)
    write_extract(events, patients, folder)
    with open(folder / "events.csv", "a", encoding="utf-8") as f:
        f.write("A00001,1,12,2023-01-01,\n")  # one rejected row, so --rejects has content
    return folder


OUTPUTS = ("summary.csv", "patients.parquet", "rejects.csv")  # rejects first, after reading
TERM, INT = signal.SIGTERM, signal.SIGINT

# When each child is interrupted: (after its handlers are in, or after a file of its own appears,
# plus seconds), the signal, and a second signal 2 ms later if any. Reading takes a few tenths of
# a second after the imports; the rejects file is written (to its temporary file) after reading,
# then the summary, then the patients file, and all three are renamed into place at the end: file
# triggers reach those phases however loaded the machine is.
INTERRUPTS = [
    (("start", 0.0), TERM, None),  # importing pandas and the CLI
    (("start", 0.1), INT, INT),  # Ctrl-C twice
    (("start", 0.4), TERM, None),  # reading, on a machine of our CI's speed
    ((".rejects.csv", 0.0), INT, None),  # evaluating, one output written but not yet published
    ((".rejects.csv", 0.05), TERM, INT),
    ((".summary.csv", 0.0), INT, None),  # writing the summary (its temporary file), if caught
    ((".patients.parquet", 0.0), TERM, None),  # writing the last output, if caught
    (("patients.parquet", 0.0), INT, None),  # all published: may finish first
]


def _handlers_installed(pid: int) -> bool:
    """Has the process set its SIGTERM handler (Linux: /proc/PID/status SigCgt)?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True  # already gone
    line = next(line for line in status.splitlines() if line.startswith("SigCgt"))
    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def _due(child: dict, now: float) -> bool:
    """Is it time to signal this child? Records when its trigger happened."""
    trigger, delay = child["when"]
    if child["since"] is None:
        if trigger == "start":
            happened = _handlers_installed(child["process"].pid)
        else:
            happened = any(n.startswith(trigger) for n in os.listdir(child["out"]))
        child["since"] = now if happened else None
    return child["since"] is not None and now >= child["since"] + delay


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas() if path.suffix == ".parquet" else pd.read_csv(path)


def _calc_argv(extract: Path, out: Path) -> list:
    return [
        "calc", extract / "events.csv", "--patients", extract / "patients.csv", *YEAR, "-q",
        "--format", "csv", "--output", out / OUTPUTS[0], "--patients-out", out / OUTPUTS[1],
        "--rejects", out / OUTPUTS[2],
    ]  # fmt: skip


def test_interrupt_at_any_moment_leaves_complete_outputs_or_none(extract, tmp_path):
    """Runs start together and each gets SIGINT or SIGTERM (some a second one) at its moment,
    from mid-import to the end. Whatever a run leaves must be byte for byte what an uninterrupted
    run writes; nothing else may be left, and nothing said but `Interrupted`."""
    assert Path("/proc/self/status").exists(), "this test needs Linux's /proc"
    children = []
    for i, (when, signum, second) in enumerate(INTERRUPTS):
        out = tmp_path / f"run{i}"
        out.mkdir()
        process = subprocess.Popen(
            [sys.executable, "-m", "ccrqof", *map(str, _calc_argv(extract, out))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        children.append(
            {"process": process, "out": out, "when": when, "signum": signum, "second": second}
        )
        children[-1]["since"] = None
    waiting = list(children)
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for child in list(waiting):
            if child["process"].poll() is not None:
                waiting.remove(child)
            elif _due(child, time.monotonic()):
                child["process"].send_signal(child["signum"])
                if child["second"]:
                    time.sleep(0.002)
                    child["process"].send_signal(child["second"])
                waiting.remove(child)
        time.sleep(0.001)
    reference = tmp_path / "reference"  # in this process, while the others run: imports are done
    reference.mkdir()
    assert run(*_calc_argv(extract, reference)).exit_code == 0
    expected = {name: (reference / name).read_bytes() for name in OUTPUTS}
    for name in OUTPUTS:
        assert len(_read(reference / name)) > 0
    left_behind = []  # (trigger, exit status, outputs left)
    for child in children:
        code = child["process"].wait(60)
        stderr = child["process"].stderr.read()
        assert not any(noise in stderr for noise in NOISE), stderr
        left = sorted(p.name for p in child["out"].iterdir())
        assert set(left) <= set(OUTPUTS), f"temporary files left: {left}"
        for name in left:
            assert (child["out"] / name).read_bytes() == expected[name], f"{name} is incomplete"
        if code == 0:
            assert left == sorted(OUTPUTS) and "Interrupted" not in stderr
        else:
            # of two signals in quick succession, Python may run the lower-numbered first
            codes = {128 + child["signum"], 128 + (child["second"] or child["signum"])}
            assert code in codes, (child["when"], code, stderr)
            assert stderr.endswith("Interrupted\n") and stderr.count("Interrupted") == 1, stderr
        left_behind.append((child["when"], code, len(left)))
    # all or nothing: an interrupted run leaves no output (or, interrupted after publishing,
    # all of them), never a new one beside an old one
    interrupted = {n for _, code, n in left_behind if code != 0}
    assert 0 in interrupted and interrupted <= {0, len(OUTPUTS)}, left_behind


# --- 6. summaries say what they are ---------------------------------------------------------------


def _frame(text_or_path, parquet: bool = False) -> pd.DataFrame:
    if parquet:
        return pd.read_parquet(text_or_path)
    if isinstance(text_or_path, Path):
        return pd.read_csv(text_or_path, dtype=str)
    return pd.read_csv(io.StringIO(text_or_path), dtype=str)


@pytest.mark.parametrize(
    ("fmt", "to", "columns"),
    [
        ("csv", "stdout", ("reference_date", "ruleset")),
        ("csv", "summary.csv", ("reference_date", "ruleset")),
        ("parquet", "summary.parquet", ("reference_date", "ruleset")),
        ("published", "stdout", ("REFERENCE_DATE", "RULESET")),
        ("published", "published.csv", ("REFERENCE_DATE", "RULESET")),
        ("published", "published.parquet", ("REFERENCE_DATE", "RULESET")),
    ],
)
def test_every_summary_records_its_reference_date_and_rules(work, fmt, to, columns):
    output = () if to == "stdout" else ("--output", f"out/{to}")
    result = run("calc", "data/events.csv", "--as-of", "2024-01-31", "--format", fmt, *output)
    assert result.exit_code == 0, result.stderr
    frame = _frame(result.stdout if to == "stdout" else Path("out", to), to.endswith(".parquet"))
    assert len(frame) > 0
    assert set(frame[columns[0]]) == {"2024-01-31"}
    assert set(frame[columns[1]]) == {"2023-24"}
    if fmt != "published":
        assert list(frame.columns[:9]) == [
            "reference_date",
            "ruleset",
            *ORG_COLUMNS,  # always there, blank without --org-map: monthly files append
            "indicator",
        ]


@pytest.mark.parametrize(
    ("dates", "reference_date", "ruleset"),
    [
        (YEAR, "2024-03-31", "2023-24"),
        (("--as-of", "2025-06-30"), "2025-06-30", "2024-25"),  # local monitoring
    ],
)
def test_summary_columns_match_the_json_document(work, dates, reference_date, ruleset):
    document = json.loads(run("calc", "data/events.csv", *dates, "--format", "json").stdout)
    assert (document["reference_date"], document["ruleset"]) == (reference_date, ruleset)
    for fmt, columns in (
        ("csv", ("reference_date", "ruleset")),
        ("published", ("REFERENCE_DATE", "RULESET")),
    ):
        frame = _frame(run("calc", "data/events.csv", *dates, "--format", fmt).stdout)
        assert set(zip(frame[columns[0]], frame[columns[1]], strict=True)) == {
            (reference_date, ruleset)
        }


def test_rolled_up_summaries_record_them_too(work):
    write_csv(work / "org.csv", "practice_code,pcn_code\nA81001,P1\nB82002,P1\n")
    result = run(
        "calc", "data/events.csv", *YEAR, "--org-map", "org.csv", "--by", "pcn", "--format", "csv"
    )
    assert result.exit_code == 0, result.stderr
    frame = _frame(result.stdout)
    assert list(frame.columns[:3]) == ["reference_date", "ruleset", "pcn_code"]
    assert set(zip(frame["reference_date"], frame["ruleset"], strict=True)) == {
        ("2024-03-31", "2023-24")
    }


def test_trend_rows_carry_their_own_date_and_rules(work):
    result = run(
        "trend", "data/events.csv", "--from", "2024-02", "--to", "2024-05", "--format", "csv"
    )
    assert result.exit_code == 0, result.stderr
    frame = _frame(result.stdout)
    assert dict(zip(frame["reference_date"], frame["ruleset"], strict=True)) == {
        "2024-02-29": "2023-24",
        "2024-03-31": "2023-24",
        "2024-04-30": "2024-25",
        "2024-05-31": "2024-25",
    }


# --- all or nothing, and standard output that fills part way ------------------------------------


def test_standard_output_that_fills_part_way_is_an_error_not_a_short_file(work, mount):
    """A disk that fills in the middle of the JSON (not at its first byte, as /dev/full does):
    before, Python's buffered stdout took the short write and the run exited 0 with a cut-off
    file."""
    folder = mount("tiny", "size=16k")
    argv = ("trend", "data/events.csv", "--from", "2022-04", "--to", "2024-03", "--format", "json")
    assert len(run(*argv).stdout) > 16384  # the whole series would not fit
    with open(folder / "series.json", "w") as target:
        done = process(*argv, cwd=work, stdout=target)
    assert done.returncode == 2, done.stderr
    assert "Error: cannot write to standard output: No space left on device" in done.stderr
    assert not any(noise in done.stderr for noise in NOISE)


def test_a_stop_after_reading_leaves_every_output_as_it_was(work):
    """worklist checks --indicator against the packs after the extract is read and the rejects
    file written: the old rejects file and the old list must both survive, so no folder ever
    holds one run's rejects beside another run's list."""
    (work / "out").mkdir(exist_ok=True)
    old = {name: f"last month's {name}\n" for name in ("rejects.csv", "worklist.csv")}
    for name, text in old.items():
        (work / "out" / name).write_text(text)
    result = run(
        "worklist", "data/events.csv", *YEAR, "--format", "csv", "--output", "out/worklist.csv",
        "--rejects", "out/rejects.csv", "--indicator", "CAN999",
    )  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert "CAN999" in result.warnings
    assert {p.name: p.read_text() for p in (work / "out").iterdir()} == old


def test_an_org_map_without_the_level_stops_before_reading(work):
    write_csv(work / "no_pcn.csv", "practice_code,practice_name\nA81001,The Surgery\n")
    broken = write_csv(work / "broken.csv", "practice_code,patient_id\nA81001,1\n")
    result = run("calc", broken, *YEAR, "--org-map", "no_pcn.csv", "--by", "pcn")
    assert result.exit_code == 2
    assert "no pcn_code column" in result.warnings
    assert "'date'" not in result.warnings  # the broken extract was never read


def test_strict_still_writes_its_rejects_file_and_nothing_else(work):
    write_csv(work / "bad.csv", "practice_code,patient_id,code,date\nA81001,P1,123,2023-06-01\n")
    result = run(
        "calc", "bad.csv", *YEAR, "--strict", "--rejects", "rejects.csv",
        "--patients-out", "outcomes.csv",
    )  # fmt: skip
    assert result.exit_code == 1
    assert (work / "rejects.csv").read_text().count("\n") == 2  # header and the one row
    assert not (work / "outcomes.csv").exists()


def test_a_closed_terminal_is_an_interrupt_too(extract, tmp_path):
    """SIGHUP (the terminal closed under a long run) ends it as Ctrl-C does: no temporary file
    left, no output published, `Interrupted` once, exit 129."""
    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "ccrqof", *map(str, _calc_argv(extract, out))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not _handlers_installed(child.pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)
    child.send_signal(signal.SIGHUP)
    code = child.wait(60)
    stderr = child.stderr.read()
    if code == 0:  # finished first on a fast machine: then everything is there
        assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    else:
        assert code == 128 + signal.SIGHUP, stderr
        assert stderr.count("Interrupted") == 1 and "Traceback" not in stderr
        assert list(out.iterdir()) == []
