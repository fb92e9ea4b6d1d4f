"""Public reference data: Kent geography and benefit rates by tax year."""
