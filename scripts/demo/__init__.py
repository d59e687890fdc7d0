"""Generators of larger registers for benchmarks (the Shenzhen demo is in `jurisdictions.demo`)."""
