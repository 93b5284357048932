"""Tests of watching runs (twap/observe/): log lines."""
