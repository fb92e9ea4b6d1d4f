"""The county dashboard: the index, the map, benchmarks and budgets in a browser, read from stored results only."""
