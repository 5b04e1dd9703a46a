"""The `ccrqof` command's entry point: Ctrl-C and SIGTERM handling first, then the CLI, whose
errors `run` turns into one line on stderr and an exit status.

The handlers go in before pandas and pyarrow are imported (most of a short run), so that an
interrupt at any moment ends the same way: temporary files removed, outputs already written kept
whole, `Interrupted` once on stderr, exit status 128 + the signal number, no traceback.

The first signal raises `Interrupted` in the main thread, so the run unwinds through its
`finally` blocks (the progress display gives the terminal back). A watcher thread, woken by the
signal itself, ends the process if unwinding takes longer than GRACE seconds: reading threads
finish their current file before the pool lets go, and a C call can hold off Python's handler.
A second signal ends the process at once.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import signal
import sys
import threading

from ccrqof.output import discard_temporaries, together

GRACE = 0.5
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal was closed

_received = 0  # the first signal's number
_done = False  # the command has returned: no more unwinding
_holding = False  # a native import is under way: the first signal waits for its end
_ending = threading.Lock()  # taken, never released, by the thread that ends the process


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, so that `except Exception` lets it pass."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def end(signum: int) -> None:
    """Remove temporary files, say `Interrupted` once and exit 128 + signum now (any thread)."""
    _ending.acquire()
    try:
        discard_temporaries()
        if threading.current_thread() is threading.main_thread():
            sys.stderr.flush()
        if os.isatty(2):
            os.write(2, b"\x1b[?25h")  # the progress display may have hidden the cursor
        os.write(2, b"Interrupted\n")
    except BaseException:
        pass  # nothing may stop the exit
    os._exit(128 + signum)


def _on_signal(signum: int, frame) -> None:
    global _received
    if _ending.locked():
        return  # already on the way out
    if _received or _done:
        end(_received or signum)
    _received = signum
    if not _holding:
        raise Interrupted(signum)


@contextlib.contextmanager
def held():
    """The first signal waits until the body is done, then interrupts as usual: for a native
    module's import (DuckDB's), which prints its own traceback if an exception passes through
    it. A second signal, or the watcher's GRACE, still ends the process at once."""
    global _holding
    if _holding or threading.current_thread() is not threading.main_thread():
        yield
        return
    _holding = True
    try:
        yield
    finally:
        _holding = False
    if _received and not _done:
        raise Interrupted(_received)


def _watch(fd: int) -> None:
    """Woken by each signal's byte: after the first, give the main thread GRACE seconds."""
    first = None
    while True:
        ready, _, _ = select.select([fd], [], [], GRACE if first else None)
        if not ready:
            end(first)
        data = os.read(fd, 64)
        caught = [b for b in data if b in SIGNALS]
        if caught and first:
            end(first)  # a second signal
        if caught:
            first = caught[0]


def _unraisable(hook):
    """An interrupt raised where Python cannot propagate it (a __del__, a callback) is dropped
    quietly instead of printed as 'Exception ignored'; the watcher still ends the run."""

    def quiet(unraisable) -> None:
        if not isinstance(unraisable.exc_value, Interrupted | KeyboardInterrupt):
            hook(unraisable)

    return quiet


def _install() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read,), name="ccrqof-interrupts", daemon=True).start()
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    for signum in SIGNALS:
        signal.signal(signum, _on_signal)


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except OSError as exc:
        exc.ccrqof_stdout = True
        raise


def _stream_failed(exc: OSError) -> bool:
    """Did writing to standard output fail (a full disk under `> file`, /dev/full)? The command's
    own files fail as OutputError and its inputs as InputError, so an OSError raised inside click
    or rich, which write only to the terminal streams here, is one."""
    if getattr(exc, "ccrqof_stdout", False):
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return exc.errno is not None and module.split(".")[0] in ("click", "rich")


def _discard_stdout() -> None:
    """Point standard output at the null device, so that Python's last flush on the way out
    cannot fail again and print 'Exception ignored'."""
    if sys.stdout is not sys.__stdout__ and sys.stdout is not _own_stdout:
        return  # not the process's own stream (tests): nothing flushes it at exit
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


_own_stdout = None  # the buffered stdout put in place of an unbuffered one


def _buffered_stdout() -> None:
    """Unbuffered stdout (`python -u`, PYTHONUNBUFFERED) writes straight to the file, and a
    short write (a disk that fills part way) is then dropped without an error. A buffered writer
    retries the rest and raises, so the run ends in an error instead of a cut-off file."""
    global _own_stdout
    raw = getattr(sys.stdout, "buffer", None)
    if isinstance(raw, io.FileIO):
        sys.stdout = _own_stdout = io.TextIOWrapper(
            io.BufferedWriter(raw),
            encoding=sys.stdout.encoding,
            errors=sys.stdout.errors,
            line_buffering=sys.stdout.line_buffering,
        )


def run(command) -> None:
    """Run a click command as the process: every output of the run published together or none,
    a user error as one line on stderr and its exit status, a failed standard output (a full
    disk, a reader gone) as exit 2 or 1 without a traceback."""
    import click

    from ccrqof.errors import CcrqofError
    from ccrqof.reporters.console import error

    _buffered_stdout()
    try:
        with together():  # every output of the run, or none
            command.main(standalone_mode=False)
            _flush_stdout()  # a full disk under `> file` must fail here, not at exit
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            raise exc.__cause__ from None  # Ctrl-C: reported by main
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CcrqofError as exc:
        error(str(exc))
        sys.exit(exc.exit_code)
    except MemoryError:
        error(
            "ran out of memory: are the inputs what you expect (not an endless device such as "
            "/dev/zero)? For a very large extract, split it by practice"
        )
        sys.exit(2)
    except OSError as exc:
        if not _stream_failed(exc):
            raise
        _discard_stdout()
        if exc.errno == errno.EPIPE:
            sys.exit(1)  # the reader went away (`| head`): nothing to say, as click and rich do
        with contextlib.suppress(OSError):
            error(f"cannot write to standard output: {os.strerror(exc.errno)}")
        sys.exit(2)


def main() -> None:
    """The `ccrqof` command (console script and `python -m ccrqof`)."""
    global _done
    try:
        _install()
        from ccrqof.cli import main as run

        run()
    except (Interrupted, KeyboardInterrupt) as exc:  # KeyboardInterrupt: pyarrow's own Ctrl-C
        end(getattr(exc, "signum", signal.SIGINT))
    finally:
        # The run is over and its outputs complete: a signal from here on is ignored, also while
        # Python shuts down (which would otherwise restore the default handlers, and a late
        # Ctrl-C would kill the process instead of letting it exit with its own status).
        _done = True
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                signal.signal(signum, signal.SIG_IGN)
