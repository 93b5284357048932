"""Building the marts: dbt run in-process, the build log its hooks write, its test results, and
the Spark warehouse."""
