"""Benchmarks of corehub, run by hand (`python -m bench.<name>`); never timed in tests."""
