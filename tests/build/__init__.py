"""Tests of building the marts (twap/build/): dbt models, the build log, Spark."""
