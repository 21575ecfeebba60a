"""Seed instructions in: readers for every format, and the seed / test splits of bundled benchmarks."""
