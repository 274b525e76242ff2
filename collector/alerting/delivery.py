"""Alert delivery's pass, run after each detection pass (in `serve` and in `alerts`):
reminders and the daily summary into the outbox, the outbox into deliveries, the due
deliveries sent, and a channel that keeps failing raised as channel_failing (whose own
event is then delivered, on the other channels, in the same pass).

Every step is safe with several replicas running it at once (each module says how), so
the pass needs no lease of its own; `now` is injected, as in the engine's pass."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine

from .channel_health import sync_channel_alerts
from .channels import Sender, make_senders
from .config import DeliveryConfig
from .dispatch import SendResult, send_due
from .outbox import dispatch_events
from .reminders import write_reminders
from .summary import write_summary

log = logging.getLogger("smartcron.collector.alerts")


@dataclass
class DeliveryResult:
    reminders: int = 0
    summary_written: bool = False
    events: int = 0
    sent: SendResult = field(default_factory=SendResult)
    channels_failing: list[str] = field(default_factory=list)
    channels_recovered: list[str] = field(default_factory=list)


class Delivery:
    """A process's delivery: the config and a sender per channel, made once."""

    def __init__(self, config: DeliveryConfig, senders: dict[str, Sender] | None = None) -> None:
        self.config = config
        self.senders = make_senders(config.channels) if senders is None else senders

    def run_pass(self, engine: Engine, now: dt.datetime) -> DeliveryResult:
        return run_delivery_pass(engine, self, now)


def run_delivery_pass(engine: Engine, delivery: Delivery, now: dt.datetime) -> DeliveryResult:
    config = delivery.config
    result = DeliveryResult()
    if not config.channels:
        return result  # nothing to deliver to: events stay in the outbox for a channel to come
    result.reminders = write_reminders(engine, config, now)
    result.summary_written = write_summary(engine, config, now)
    result.events = dispatch_events(engine, config, now)
    result.sent = send_due(engine, config, delivery.senders, now)
    opened, resolved = sync_channel_alerts(engine, config, now)
    result.channels_failing, result.channels_recovered = opened, resolved
    if opened or resolved:
        result.events += dispatch_events(engine, config, now)
        more = send_due(engine, config, delivery.senders, now)
        result.sent.messages += more.messages
        result.sent.delivered += more.delivered
        result.sent.failed += more.failed
        result.sent.errors |= more.errors
    return result
