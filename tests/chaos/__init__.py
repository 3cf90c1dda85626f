"""The seeded chaos runner (runner.py) and its program family (program/)."""
