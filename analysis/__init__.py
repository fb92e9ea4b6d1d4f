"""The analysts' library, run inside the `lsi` process (and later the dashboard): the client, indicators,
queries, the index, benchmarks, unclaimed support, campaign results and the report's data model."""
