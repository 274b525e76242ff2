"""smartcron-agent: the host side of smartcron (crontab discovery and wrapping so far)."""
