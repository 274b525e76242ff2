"""Which channels an alert goes to: the first route that matches it, else every channel."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import DeliveryConfig, RouteConfig
    from .messages import AlertView

# Most urgent first (DESIGN.md: priority 1 critical, 2 high, 3-5 warning, 6-10 info).
SEVERITIES = ("critical", "high", "warning", "info")
CHANNEL_FAILING = "channel_failing"


def severity_rank(severity: str) -> int:
    """0 for critical, larger for less urgent; an unknown severity ranks as info."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


def route_matches(route: RouteConfig, alert: AlertView, tags: Iterable[str]) -> bool:
    if route.job is not None and not fnmatchcase(alert.job, route.job):
        return False
    if route.host is not None and not fnmatchcase(alert.host, route.host):
        return False
    if route.tag is not None and route.tag not in set(tags):
        return False
    if route.rule is not None and alert.rule not in route.rule:
        return False
    if route.severity is not None and alert.severity not in route.severity:
        return False
    return not (
        route.min_severity is not None
        and severity_rank(alert.severity) > severity_rank(route.min_severity)
    )


def channels_for(config: DeliveryConfig, alert: AlertView, tags: Iterable[str] = ()) -> list[str]:
    """The channels of the first matching route; every channel when no route matches.
    A failing channel's own alert never goes to that channel: it goes to the others."""
    tags = list(tags)
    chosen = next(
        (route.channels for route in config.routes if route_matches(route, alert, tags)),
        list(config.channels),
    )
    if alert.rule == CHANNEL_FAILING:
        chosen = [name for name in chosen if name != alert.job] or [
            name for name in config.channels if name != alert.job
        ]
    return list(dict.fromkeys(chosen))
