"""The collector's store: MySQL in production, SQLite as the embedded default."""
