"""Tests of running the pipeline (twap/run/): steps, locks, faults, hourly runs."""
