"""Wall time, CPU and peak memory of one command in a fresh process, for the benchmarks.

Linux carries a process's peak RSS (`ru_maxrss`) across fork and exec, so a child of a large
benchmark driver reports at least the driver's size. The command is therefore started by a
small spawner (a fresh Python that imports nothing), and the figures are those of the spawner's
own child: its peak is the command's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

_SPAWNER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump([wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss * 1024,
               os.waitstatus_to_exitcode(status)], out)
"""


@dataclass
class Run:
    wall: float  # seconds
    user: float
    system: float
    peak: int  # bytes of resident memory at most
    stdout: str


def load() -> str:
    """The load average (1, 5 and 15 minutes): timings under load are read with care."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def measured(command: list[str]) -> Run:
    """Run `command` once in a fresh process; exit with its standard error if it fails."""
    with (
        tempfile.NamedTemporaryFile("r", suffix=".json") as figures,
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
    ):
        spawn = [sys.executable, "-S", "-c", _SPAWNER, figures.name, *command]
        subprocess.run(spawn, stdout=out, stderr=err, text=True, check=False)
        out.seek(0), err.seek(0)
        try:
            wall, user, system, peak, code = json.loads(figures.read() or "null")
        except TypeError:
            sys.exit(f"could not start: {' '.join(command)}\n{err.read()}")
        if code != 0:
            sys.exit(f"command failed ({code}): {' '.join(command)}\n{err.read()}")
        return Run(wall, user, system, peak, out.read())


def describe(run: Run) -> str:
    return (
        f"wall {run.wall:.2f} s, user {run.user:.2f} s, sys {run.system:.2f} s, "
        f"peak RSS {run.peak / 1e9:.2f} GB, load {load()}"
    )


if __name__ == "__main__":  # a quick check: python benchmarks/measure.py python -c "..."
    print(describe(measured(sys.argv[1:])))
