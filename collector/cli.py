"""smartcron-collector: a placeholder until the collector is built (see DESIGN.md)."""

from __future__ import annotations

import click


@click.command()
def main() -> None:
    """smartcron-collector is not built yet."""
    raise click.ClickException(
        "smartcron-collector is not built yet; smartcron-wrap works on its own and keeps "
        "its reports in the spool under the state directory until the collector ships them"
    )
