"""One exception family for problems the user can fix; anything else is a bug."""

from __future__ import annotations


class CcrqofError(Exception):
    """A user-fixable problem. The CLI prints it as one sentence and exits with `exit_code`.

    Messages name files, line numbers and column names, never patient identifiers or values.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        where = []
        if file:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if column:
            where.append(f"column '{column}'")
        self.message = message
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class InputError(CcrqofError):
    """An input file that cannot be read as an extract, patients file or code list."""


class RulePackError(CcrqofError):
    """A rule pack (or rule case file) that does not validate."""


class UsageError(CcrqofError):
    """Options that do not make sense together (no rule pack for the date, bad year name...)."""


class OutputError(CcrqofError):
    """An output that could not be written (disk full, read-only folder...): exit 2."""


class RejectedRowsError(CcrqofError):
    """--strict: some rows were rejected. A check failed rather than a usage error: exit 1."""

    exit_code = 1
