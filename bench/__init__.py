"""Benchmarks: each prints its figures; `make bench` runs them all on a fresh stack on free ports."""
