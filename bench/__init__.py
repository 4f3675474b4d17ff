"""Benchmarks and long-running checks; none of this runs in CI (see docs/performance.md)."""
