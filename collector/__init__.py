"""smartcron-collector: ingest run reports, store them, show and alert on them."""

__version__ = "0.1.0"
