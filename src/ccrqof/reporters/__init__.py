"""Reporters: views of the same scored rows for a terminal, JSON, CSV and Parquet."""

from ccrqof.reporters.documents import (
    flat_summary,
    json_document,
    patient_outcomes,
    write_frame,
)
from ccrqof.reporters.terminal import render_summary

__all__ = ["flat_summary", "json_document", "patient_outcomes", "render_summary", "write_frame"]
