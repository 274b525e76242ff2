"""The alert engine: detection (this package's rules, run by engine.run_pass on one
replica at a time, by lease.py) writes alerts and their outbox events; delivery reads
the outbox. docs/alerts.md describes it."""
