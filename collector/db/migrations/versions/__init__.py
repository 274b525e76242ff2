"""Alembic revisions, applied in order (alembic skips this file)."""
