"""Outputs: checked before any work, then written atomically (a temporary file in the same folder,
then a rename), so an output is either the complete new file or whatever was there before.

An output must be a regular file or a new name. A symbolic link, FIFO, device or socket is refused
rather than followed or replaced: the rename would put a regular file in its place (`--output
/dev/null` would replace the system's /dev/null), and writing through it would not be atomic.

Kept light (no pandas, no pyarrow): the command's entry point imports it before anything heavy.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ccrqof.errors import OutputError, UsageError

# Temporary files being written, so that an interrupted run can remove them from any thread.
_temporaries: set[str] = set()
_lock = threading.RLock()
_GLOB_CHARS = "*?["
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def discard_temporaries() -> None:
    """Delete every temporary file still being written, and let no new one start: the last step
    of an interrupted run before the process ends. The lock stays held until then."""
    _lock.acquire()
    for name in list(_temporaries):
        with contextlib.suppress(OSError):
            os.unlink(name)
    _temporaries.clear()


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


def check_folder(path: str | Path, option: str | None = None) -> Path:
    """Fail before any work if files could not be written into the folder `path`: it exists but
    is not a folder (a file, a FIFO...), it is missing and so is its parent, or it cannot be
    written to. A missing folder is fine: the writer makes it (one level only, so that a typing
    slip does not leave a tree of new folders)."""
    path = Path(path)
    what = _what(path, option)
    try:
        mode = path.stat().st_mode  # a link to a folder is a folder: files go inside it
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"{what}: {_cause(exc)}") from None
    if mode is None:
        if path.is_symlink():
            raise UsageError(f"{what} is a symbolic link to nothing; give a folder")
        folder = path.parent
        if not folder.is_dir():
            raise UsageError(f"{what}: the folder {folder} does not exist")
    elif not stat.S_ISDIR(mode):
        kinds = ((stat.S_ISREG, "a file"), *_KINDS)
        kind = next((name for test, name in kinds if test(mode)), "a device")
        raise UsageError(f"{what} is {kind}, not a folder; give the name of a folder")
    else:
        folder = path
    if not os.access(folder, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(folder) else errno.EACCES
        raise UsageError(f"{what}: cannot write to the folder {folder}: {os.strerror(code)}")
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


# Inside `together()`: written temporary files and their final names, renamed at the end.
_pending: list[tuple[str, Path]] | None = None


@contextlib.contextmanager
def together():
    """The outputs of one run are published together: each is written in full to its temporary
    file, and all are renamed into place when the run ends well (or at `publish()`). A run that
    stops or is interrupted half way leaves every output as it was, never a new summary beside
    an old patients file."""
    global _pending
    _pending = []
    try:
        yield
        publish()
    finally:
        with _lock:
            for tmp, _ in _pending or []:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                _temporaries.discard(tmp)
            _pending = None


@contextlib.contextmanager
def all_at_once():
    """The outputs written inside are published together: with the rest of the run when a
    `together()` is open (its end renames them), else in a `together()` of their own. A set of
    files (one per PCN) is then never left half old, half new."""
    if _pending is not None:
        yield
    else:
        with together():
            yield


def publish() -> None:
    """Rename every output written so far into place (the end of a run, or `--strict` failing
    after its rejects file is complete)."""
    with _lock:
        while _pending:
            tmp, path = _pending[0]
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {_cause(exc)}") from None
            _pending.pop(0)
            _temporaries.discard(tmp)


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` then rename over `path`: an existing file is only ever replaced by a
    complete new one, never left half-written. Inside `together()` the rename waits for the end
    of the run. A failure (disk full...) is an OutputError naming the path and the cause, with
    the temporary file removed."""
    path = check_writable(path)
    tmp = str(path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp")
    deferred = False
    try:
        with _lock:  # registered before it exists, so an interrupt can never miss it
            _temporaries.add(tmp)
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(Path(tmp))
        with _lock:
            if _pending is not None:
                _pending.append((tmp, path))
                deferred = True
                return
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_cause(exc)}") from None
    finally:
        if not deferred:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # gone already after a rename
            with _lock:
                _temporaries.discard(tmp)


def write_text(path: str | Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# --- outputs against inputs ---------------------------------------------------------------------


def _identity(path: Path) -> tuple:
    """What a path names, whatever its spelling: an existing file's (device, inode), or a new
    name in an existing folder (folder's device and inode, name)."""
    try:
        st = path.stat()
        return ("file", st.st_dev, st.st_ino)
    except OSError:
        pass
    try:
        st = path.parent.stat()
        return ("name", st.st_dev, st.st_ino, path.name)
    except OSError:
        return ("path", os.path.abspath(path))


def _within(path: Path, folder: Path) -> list[str] | None:
    """The parts of `path` below `folder` if it lies inside it (compared by device and inode, so
    links and other spellings of the folder count), else None."""
    try:
        target = folder.stat()
    except OSError:
        return None
    parts: list[str] = []
    current = Path(os.path.abspath(path))
    while current.parent != current:
        parts.insert(0, current.name)
        current = current.parent
        try:
            st = current.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return parts
    return None


def _glob_matches(pattern: str, path: Path) -> bool:
    """Would `glob.glob(pattern, recursive=True)` list `path`, if it existed?"""
    parts = Path(pattern).parts
    fixed = next((i for i, p in enumerate(parts) if any(c in p for c in _GLOB_CHARS)), len(parts))
    below = _within(path, Path(*parts[:fixed]) if fixed else Path("."))
    return below is not None and _match_parts(list(parts[fixed:]), below)


def _match_parts(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match_parts(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and fnmatch.fnmatch(parts[0], pattern[0])
        and _match_parts(pattern[1:], parts[1:])
    )


def _read_suffixes() -> tuple[str, ...]:
    from ccrqof.readers.inputs import DATA_SUFFIXES

    return (*DATA_SUFFIXES, ".yaml", ".yml")  # rule-pack folders are read as .yaml files


def _clash(output: Path, option: str, source: str | Path, label: str) -> str | None:
    """Why `output` may not be written given one input, or None."""
    what = _what(output, option)
    text = str(source)
    suffix = next((s for s in _read_suffixes() if output.name.lower().endswith(s)), None)
    if any(c in text for c in _GLOB_CHARS):
        if suffix and _glob_matches(text, output):
            return (
                f"{what} matches the input pattern {text} ({label}): it would be read as input "
                "by this run or the next; choose a name or folder the pattern does not match"
            )
        return None
    source = Path(source)
    if source.is_file() and _identity(output) == _identity(source):
        return (
            f"{what} is the input file {source} ({label}); inputs are never overwritten: "
            "choose another file name"
        )
    if suffix and source.is_dir() and _within(output, source) is not None:
        return (
            f"{what} is inside the input folder {source} ({label}) and ends in {suffix}, so "
            "this run or the next would read it as input: choose another folder or file name"
        )
    return None


def check_split_folder(
    folder: str | Path,
    suffix: str,
    option: str,
    inputs: Iterable[tuple[str, str | Path | None]],
) -> Path:
    """A folder of split files (`--split-by`): writable (`check_folder`), and none of the files
    it will hold (`<code><suffix>`) could be read as an input, next run or this one."""
    folder = check_folder(folder, option)
    probe = folder / f"A00000{suffix}"  # any name the split may write: only the folder and suffix
    for label, source in inputs:
        if source is not None and (reason := _clash(probe, option, source, label)):
            raise UsageError(reason.replace(str(probe), f"{folder} (split files)"))
    return folder


def check_outputs(
    outputs: dict[str, str | Path | None], inputs: Iterable[tuple[str, str | Path | None]]
) -> None:
    """Before anything is read: no output is, or could next time be read as, an input; no two
    outputs share a file; every output can be written. `outputs` maps option names to paths;
    `inputs` holds (label, file, folder or glob pattern) pairs."""
    given = {option: Path(path) for option, path in outputs.items() if path is not None}
    sources = [(label, source) for label, source in inputs if source is not None]
    for option, path in given.items():
        for label, source in sources:
            reason = _clash(path, option, source, label)
            if reason:
                raise UsageError(reason)
    seen: dict[tuple, str] = {}
    for option, path in given.items():
        key = _identity(path)
        if key in seen:
            raise UsageError(
                f"{seen[key]} and {option} name the same file ({path}); give each output its "
                "own file"
            )
        seen[key] = option
    for option, path in given.items():
        check_writable(path, option)
