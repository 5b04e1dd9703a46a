"""The engines every rule case, property and oracle comparison runs on: the in-process ones.

Spark (`ccrqof.engine.ENGINES["spark"]`) is left out on purpose: these tests make some 500
small runs (the oracle comparison alone draws 300 extracts), each a dozen or more Spark jobs of
a few tenths of a second, about 40 minutes on Spark. It is verified in a few large batches instead
(tests/test_spark_engine.py: every rule case at once, a synthetic extract against DuckDB, the
CLI). A new in-process engine is tested by adding it here, never by copying tests."""

ENGINE_NAMES = ("python", "duckdb")
