"""smartcron-agent: a placeholder until the agent is built (see DESIGN.md)."""

from __future__ import annotations

import click


@click.command()
def main() -> None:
    """smartcron-agent is not built yet."""
    raise click.ClickException(
        "smartcron-agent is not built yet; until it is, smartcron-wrap --collector URL "
        "posts each report itself and keeps undelivered ones in the spool under the state directory"
    )
