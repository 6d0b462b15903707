"""Alembic migrations for the history tables (see history/migrate.py for the programmatic API)."""
