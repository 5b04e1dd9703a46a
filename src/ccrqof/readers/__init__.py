"""Readers: CSV / CSV.gz / Parquet files to canonical tables, with every bad row accounted for."""

from ccrqof.readers.extract import (
    Extract,
    InputReport,
    patients_from_events,
    read_events,
    read_extract,
    read_patients,
)
from ccrqof.readers.values import parse_dates


def release_unused_memory() -> None:
    """Give the memory of dropped tables back to the system: pyarrow's allocator keeps it for
    reuse, so a long step after an extract is dropped (a trend's month ends) would run beside
    the extract's size as well as its own."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


__all__ = [
    "Extract",
    "InputReport",
    "parse_dates",
    "patients_from_events",
    "read_events",
    "read_extract",
    "read_patients",
    "release_unused_memory",
]
