"""Benchmarks (`make bench`): each prints its figures; none asserts on time."""
