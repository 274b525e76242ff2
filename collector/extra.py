"""Whether the `collector` extra is installed: `pip install smartcron` gives a cron host the
wrapper and the agent only, and smartcron-collector then says in one line what to install
instead of failing on its first import of fastapi or sqlalchemy.

The list of what the extra holds is read from the installed package's own metadata, so
pyproject.toml stays the one place that says it.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

DISTRIBUTION = "smartcron"
EXTRA = "collector"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def extra_requirements(extra: str = EXTRA) -> list[str]:
    """The distribution names the extra adds, as the installed metadata lists them."""
    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # imported from a source tree: nothing to check
        return []
    names = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        found = _EXTRA_MARKER.search(marker)
        name = _NAME.match(spec.strip())
        if found and found.group(1) == extra and name:
            names.append(name.group())
    return names


def missing_requirements(extra: str = EXTRA) -> list[str]:
    """The extra's distributions that are not installed (none when all are)."""
    missing = []
    for name in extra_requirements(extra):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def missing_extra_message(missing: list[str]) -> str:
    # This interpreter's pip: the extra must go where smartcron itself is installed.
    return (
        f"smartcron-collector needs the {EXTRA} extra ({', '.join(missing)} not installed); "
        f"install it: {sys.executable} -m pip install '{DISTRIBUTION}[{EXTRA}]' "
        f"(from a checkout: 'PATH[{EXTRA}]')"
    )
