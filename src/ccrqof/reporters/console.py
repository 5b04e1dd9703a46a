"""The command's terminal: one-line messages and a progress display on stderr, and one way to
send a result to standard output or to its --output file."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from ccrqof.output import write_text
from ccrqof.reporters.documents import write_frame


def stderr_line(label: str, style: str, message: str) -> None:
    """One unwrapped line on stderr; the message is plain text, never rich markup."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text.assemble((label, style), " ", message)
    )


def notice(message: str) -> None:
    stderr_line("Note:", "cyan", message)


def warn(message: str) -> None:
    stderr_line("Warning:", "yellow", message)


def error(message: str) -> None:
    stderr_line("Error:", "bold red", message)


def say(message) -> None:
    """A `ccrqof.loading.Message`: a notice as `Note:`, a warning as `Warning:`."""
    (notice if message.kind == "notice" else warn)(message.text)


def deliver(output: Path | None, result, fmt: str | None = None) -> None:
    """A result to the --output file (written atomically), or else to standard output.

    `result` is text (written as it is), a rich view (a function drawing on a Console: plain
    text in a file), or a DataFrame (CSV on standard output; in a file CSV or Parquet, by `fmt`
    or the file's suffix).
    """
    if isinstance(result, str):
        write_text(output, result) if output else click.echo(result, nl=False)
    elif callable(result):
        _print_or_write(output, result)
    elif output:
        write_frame(result, output, fmt)
    else:
        click.echo(result.to_csv(index=False), nl=False)


def _print_or_write(output: Path | None, render: Callable[[Console], None]) -> None:
    """Render a rich view to the terminal, or as plain text to --output."""
    if output:
        recorder = Console(record=True, width=120, file=io.StringIO())
        render(recorder)
        write_text(output, recorder.export_text())
    else:
        console = Console()
        if not console.is_terminal:
            console.width = max(console.width, 110)
        render(console)


class Stages:
    """A progress display on stderr: only for runs longer than a second, never on stdout,
    off with --quiet or when stderr is not a terminal."""

    def __init__(self, quiet: bool) -> None:
        console = Console(stderr=True)
        # a real terminal only: FORCE_COLOR in a CI log must not fill it with spinner frames
        self.enabled = not quiet and sys.stderr.isatty()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[detail]}", style="dim"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,  # stdout is for results only, even while the display runs
            disable=not self.enabled,
        )
        self.task = None
        self.files = 0
        self._timer = threading.Timer(1.0, self.progress.start) if self.enabled else None

    def __enter__(self) -> Stages:
        if self._timer:
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._timer:
            self._timer.cancel()
        self.progress.stop()

    def start(self, description: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=1, visible=False)
        self.task = self.progress.add_task(description, total=None, detail="")

    def detail(self, text: str) -> None:
        """What the current stage has done so far (`12 of 24`)."""
        self.progress.update(self.task, detail=text)

    def file_read(self, path: Path) -> None:
        self.files += 1
        self.progress.update(self.task, detail=f"{self.files} file(s)")
