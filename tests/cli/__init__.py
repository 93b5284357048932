"""Tests of the `twap` command line (twap/cli.py)."""
