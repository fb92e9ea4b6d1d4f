"""The county report as one self-contained HTML file: formatting, geometry, charts, view models, rendering."""
