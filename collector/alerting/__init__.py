"""Alerts: detection (rules run by engine.run_pass on one replica at a time, by
lease.py) writes alerts and their outbox events; delivery (config, channels, outbox,
dispatch) reads the outbox. docs/alerts.md and docs/delivery.md describe them."""
