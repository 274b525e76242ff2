"""The MySQL DDL of each migration (collector/db/migrations/), written by Alembic's
offline mode (scripts/generate-sql): for DBAs and the mysql client, applied in order."""
