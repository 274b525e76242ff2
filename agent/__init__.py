"""smartcron-agent: the host side of smartcron: ships the spool, reports lost runs,
heartbeats and pulls control; finds and wraps the jobs in crontabs."""
