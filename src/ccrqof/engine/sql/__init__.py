"""The SQL engine: the packs compiled to SQL syntax trees (sqlglot), run embedded in DuckDB or
printed as a script for a warehouse (`ccrqof sql`)."""
