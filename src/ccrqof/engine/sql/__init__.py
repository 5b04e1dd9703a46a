"""SQL engines: the packs compiled to SQL syntax trees (sqlglot), run embedded (DuckDB) or on
Spark, or printed as a script for a warehouse (`ccrqof sql`)."""
