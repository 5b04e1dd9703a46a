"""Write outputs atomically: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ccrqof.errors import UsageError


def check_writable(path: str | Path) -> Path:
    """Fail before any work if the output's folder does not exist."""
    path = Path(path)
    if not path.parent.resolve().is_dir():
        raise UsageError(f"the folder of output file {path} does not exist")
    if path.is_dir():
        raise UsageError(f"output {path} is a folder; give a file name")
    return path


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` then rename over `path`: an existing file is only ever replaced by a
    complete new one, never left half-written."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
