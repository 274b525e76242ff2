"""smartcron-wrap: put in front of a crontab line to make the job safe and visible.

The wrapper must start fast (it runs on every cron tick of every job), so this package
imports only what the path in hand needs: pydantic and croniter are imported
lazily, where a config file or a schedule asks for them.
"""

__version__ = "0.1.0"
