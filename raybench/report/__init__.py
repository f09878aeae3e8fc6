"""Pure functions and files: statistics, report rows, the Results object and its Parquet file,
tables, CSV and JSON, run metadata, and the block bootstrap. Imports only ``core``.
"""
