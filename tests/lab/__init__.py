"""Real servers on loopback that tests, benchmarks and demos start and stop (DNS lab)."""
