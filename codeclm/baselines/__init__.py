"""Baseline data programs (Self-Instruct, Evol-Instruct) on the same steps, engine and Record format as CodecLM."""
