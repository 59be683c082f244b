"""Alembic migrations of the service schema (run by `haven serve` on start)."""
