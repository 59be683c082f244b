"""Seized intelligence: records → subjects → attributions.

`load` turns customer/account lists into records, `resolve` groups records into subjects
(Splink, DuckDB backend), `attribute` gives each subject a country with its evidence.
Each step reads and writes an operation directory, so it can be run (and re-run) alone.
"""
