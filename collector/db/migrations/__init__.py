"""The schema's history as Alembic revisions (versions/), over tables.py's metadata.

Run by collector/db/migrate.py (`smartcron-collector migrate`), never by the alembic
command line: migrate.py takes the lock and picks the connection first."""

VERSION_TABLE = "smartcron_alembic_version"  # tables are prefixed smartcron_, this too
