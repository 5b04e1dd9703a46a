"""The `ccrqof` command's entry point: Ctrl-C and SIGTERM handling first, then the CLI.

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

import os
import select
import signal
import sys
import threading

from ccrqof.output import discard_temporaries

GRACE = 0.5
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal was closed

_received = 0  # the first signal's number
_done = False  # the command has returned: no more unwinding
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
    raise Interrupted(signum)


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
