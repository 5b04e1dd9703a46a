"""Outputs: checked before any work, then written atomically (a temporary file in the same folder,
then a rename), so an output is either the complete new file or whatever was there before.

An output must be a regular file or a new name. A symbolic link, FIFO, device or socket is refused
rather than followed or replaced: the rename would put a regular file in its place (`--output
/dev/null` would replace the system's /dev/null), and writing through it would not be atomic.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from ccrqof.errors import OutputError, UsageError

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def _cause(exc: OSError) -> str:
    """The operating system's words for a failure ("No space left on device")."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _what(path: Path, option: str | None) -> str:
    return f"{option} {path}" if option else f"output {path}"


def check_writable(path: str | Path, option: str | None = None) -> Path:
    """Fail before any work if the output could not be written: its folder is missing or not
    writable, or the path is a folder, a link or another file that is not a regular one."""
    path = Path(path)
    what = _what(path, option)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"{what}: {_cause(exc)}") from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise UsageError(f"{what} is a folder; give a file name")
        if stat.S_ISLNK(mode):
            raise UsageError(
                f"{what} is a symbolic link; outputs are written to a new file that replaces "
                "the old one, which would replace the link: give the path of a regular file"
            )
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "a device")
            raise UsageError(
                f"{what} is {kind}, not a regular file; outputs are written to a new file that "
                "replaces the old one, which would replace it: give the path of a regular file"
            )
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{what}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(folder) else errno.EACCES
        raise UsageError(f"{what}: cannot write to the folder {folder}: {os.strerror(code)}")
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` then rename over `path`: an existing file is only ever replaced by a
    complete new one, never left half-written. A failure (disk full...) is an OutputError naming
    the path and the cause, with the temporary file removed."""
    path = check_writable(path)
    tmp = str(path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_cause(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # gone already after a rename


def write_text(path: str | Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
