"""Which files an input names: a file, a glob, or a folder (of CSV/Parquet files, or a Parquet
dataset partitioned as ``practice_code=A81001/part-0.parquet``)."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from ccrqof.errors import InputError
from ccrqof.readers.tables import SourceTable, check_names, check_text

DATA_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz", ".parquet", ".pq")
_PARTITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_ ]*)=(.+)$")


@dataclass(frozen=True)
class InputFile:
    path: Path
    partition: dict[str, str] = field(default_factory=dict)  # from folder names key=value


def _is_data(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and not name.startswith((".", "_")) and name.endswith(DATA_SUFFIXES)


def expand(inputs: list[str | Path]) -> list[InputFile] | Path:
    """The files to read, in a stable order; or a folder that is one Parquet dataset."""
    files: list[InputFile] = []
    for given in inputs:
        text = str(given)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            matches = [m for m in matches if _is_data(m)]
            if not matches:
                raise InputError(f"the pattern {text} matches no CSV or Parquet file")
            files.extend(InputFile(m, _partition(m, Path("."))) for m in matches)
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if _is_data(p))
            if not found:
                raise InputError("is a folder with no CSV or Parquet files", file=text)
            if (
                len(inputs) == 1
                and len(found) > 1
                and all(p.suffix.lower() in (".parquet", ".pq") for p in found)
            ):
                return path  # one dataset: read it in one go
            files.extend(InputFile(p, _partition(p, path)) for p in found)
        else:
            files.append(InputFile(path))
    return files


def _partition(path: Path, root: Path) -> dict[str, str]:
    try:
        parts = path.parent.relative_to(root).parts
    except ValueError:
        parts = path.parent.parts
    return {m.group(1): m.group(2) for p in parts if (m := _PARTITION.match(p))}


def with_partition(source: SourceTable, partition: dict[str, str]) -> SourceTable:
    """Add partition values as columns, unless the file already has that column."""
    table = source.table
    for name, value in partition.items():
        if name not in table.column_names:
            table = table.append_column(
                name, pa.repeat(pa.scalar(value, pa.large_string()), table.num_rows)
            )
    source.table = table
    return source


def read_dataset(folder: Path) -> SourceTable:
    """A folder of Parquet files (optionally hive-partitioned) as one table. Its "lines" are
    row positions counted from 1 across the dataset, in file order."""
    try:
        dataset = ds.dataset(
            folder,
            # INT96 timestamps read as nanoseconds wrap silently outside 1677-2262
            format=ds.ParquetFileFormat(
                read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="ms")
            ),
            partitioning=ds.HivePartitioning.discover(infer_dictionary=True),
        )
        check_names(dataset.schema.names, str(folder))
        table = dataset.to_table()
    except MemoryError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"is not a readable Parquet dataset ({exc.__class__.__name__})", file=str(folder)
        ) from None
    if table.num_rows == 0:
        raise InputError("is a Parquet dataset with no rows", file=str(folder))
    check_text(table, str(folder))
    return SourceTable(str(folder), table)
