"""Benchmarks: `python -m benchmarks.<name>`; results under benchmarks/results/ (not committed)."""
