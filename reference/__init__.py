"""Public reference data: geography packs (the area, its districts and wards) and benefit rates by tax year."""
