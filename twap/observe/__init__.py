"""Watching runs: the run's record, its log lines and its Prometheus metrics."""
