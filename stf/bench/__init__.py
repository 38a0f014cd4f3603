"""Benchmarks behind ``python -m stf bench <what>``; each module exposes ``main(argv) -> int`` and prints figures."""
