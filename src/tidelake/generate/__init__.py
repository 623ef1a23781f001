"""Sample data for the demo and the benchmarks."""
