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

__all__ = [
    "Extract",
    "InputReport",
    "parse_dates",
    "patients_from_events",
    "read_events",
    "read_extract",
    "read_patients",
]
