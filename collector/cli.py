"""smartcron-collector: serve, alerts, migrate (init-db), create-token, list-tokens,
revoke-token, hash-password."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from .settings import ENV_SETTINGS, CollectorSettings, settings_from_environment

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from .alerting.config import CollectorTable, DeliveryConfig

T = TypeVar("T")
GUARDED_HTTP = "smartcron.collector.connections:GuardedHttpToolsProtocol"


def _default_db() -> str:
    from smartcron.wrapper.settings import default_state_dir

    from .db.engine import default_url

    return default_url(os.environ.get("SMARTCRON_STATE_DIR") or default_state_dir(os.environ))


db_option = click.option(
    "--db",
    "db_url",
    envvar="SMARTCRON_COLLECTOR_DB",
    default=None,
    metavar="URL",
    help="sqlite:///PATH (default: collector/collector.db in the state dir) or "
    "mysql+pymysql://USER:PW@HOST/DB",
)


config_option = click.option(
    "--config",
    "config_file",
    envvar="SMARTCRON_CONFIG",
    default=None,
    metavar="FILE",
    help="the TOML file whose [collector] table holds these settings, channels and routes "
    "(default: /etc/smartcron/smartcron.toml if present); flags and environment win over it",
)


class ConfigProblem(click.ClickException):
    """A bad config file or value: one line, exit 2 (as a bad flag)."""

    exit_code = 2


def _load_config(config_file: str | None) -> CollectorTable:
    from .alerting.config import ConfigError, config_path, load_config

    try:
        return load_config(config_path(config_file, os.environ))
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None


def _from_file(ctx: click.Context, name: str, given: T, in_file: T | None) -> T:
    """A flag's value, or the file's when the flag was neither given nor in the environment."""
    from click.core import ParameterSource

    if in_file is not None and ctx.get_parameter_source(name) == ParameterSource.DEFAULT:
        return in_file
    return given


def _engine(db_url: str | None) -> Engine:
    from .db.engine import create_db_engine

    try:
        return create_db_engine(db_url or _default_db())
    except ValueError as error:
        raise click.UsageError(str(error)) from None


@click.group()
@click.version_option(package_name="smartcron", prog_name="smartcron-collector")
def main() -> None:
    """Collect smartcron run reports; serve the page, the JSON API and /metrics."""
    from .extra import missing_extra_message, missing_requirements

    # Every command needs the server stack, which `pip install smartcron` leaves out.
    missing = missing_requirements()
    if missing:
        raise click.ClickException(missing_extra_message(missing))


@main.command("migrate")
@db_option
@click.option(
    "--sql",
    "as_sql",
    is_flag=True,
    help="print the MySQL DDL of the migrations instead (for the mysql client)",
)
@click.option("--from", "start", default=None, metavar="REVISION",
              help="with --sql: only the revisions after this one")  # fmt: skip
def migrate_command(db_url: str | None, as_sql: bool, start: str | None) -> None:
    """Create the schema, or bring an older one to this version in place, keeping every row."""
    if as_sql:
        from alembic.util import CommandError

        from .db.migrate import offline_sql

        try:
            click.echo(offline_sql(start), nl=False)
        except CommandError as error:
            raise click.BadParameter(f"{error}; see sql/ for the revisions",
                                     param_hint="--from") from None  # fmt: skip
        return
    if start is not None:
        raise click.UsageError("--from goes with --sql; a database is migrated from where it is")
    engine = _engine(db_url)
    revision = _init_schema(engine)
    click.echo(
        f"schema at revision {revision} in {engine.url.render_as_string(hide_password=True)}"
    )


# The old name: crontabs and deploy scripts of v0.1.0 call it.
main.add_command(migrate_command, "init-db")


@main.command("create-token")
@db_option
@click.option("--name", required=True, help="who uses it, e.g. the host or 'prometheus'")
@click.option("--kind", type=click.Choice(["ingest", "admin"]), default="ingest", show_default=True)
@click.option("--host", default=None, metavar="NAME",
              help="bind the ingest token to this host (as its reports name it, `uname -n`): "
                   "it may report for no other; without it, a fleet token that any host "
                   "holding it may report for all")  # fmt: skip
def create_token_command(db_url: str | None, name: str, kind: str, host: str | None) -> None:
    """Create a token and print it (only its hash is stored)."""
    from .auth import ADMIN, create_token

    engine = _engine(db_url)
    _require_schema(engine)
    try:
        token = _database_call(lambda: create_token(engine, name, kind, host))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--host") from None
    click.echo(token)
    if host is None and kind != ADMIN:
        click.echo("smartcron-collector: note: a fleet token: any host holding it may report "
                   "for every host; --host NAME binds one to its host", err=True)  # fmt: skip


@main.command("list-tokens")
@db_option
def list_tokens_command(db_url: str | None) -> None:
    """Every token: id, kind, the host it is bound to (* for a fleet token), name, when
    created and revoked. Never the token itself (only its hash is stored)."""
    from .auth import list_tokens

    engine = _engine(db_url)
    _require_schema(engine)
    rows = _database_call(lambda: list_tokens(engine))
    click.echo("id\tkind\thost\tname\tcreated_at\trevoked_at")
    for row in rows:
        revoked = row.revoked_at.isoformat(sep=" ", timespec="seconds") if row.revoked_at else "-"
        click.echo(f"{row.id}\t{row.kind}\t{_shown(row.host) if row.host else '*'}\t"
                   f"{_shown(row.name)}\t{row.created_at.isoformat(sep=' ', timespec='seconds')}"
                   f"\t{revoked}")  # fmt: skip


def _shown(text: str) -> str:
    """A stored name as one cell of a line: a tab or line break in it would shift the
    columns or forge a row, so any such character is shown escaped."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


@main.command("revoke-token")
@db_option
@click.argument("token_id", metavar="ID", type=click.IntRange(1))
def revoke_token_command(db_url: str | None, token_id: int) -> None:
    """Revoke the token with this ID (from list-tokens); collectors stop taking it
    within 30 seconds (their token cache)."""
    from .auth import revoke_token

    engine = _engine(db_url)
    _require_schema(engine)
    if not _database_call(lambda: revoke_token(engine, token_id)):
        raise click.ClickException(
            f"no unrevoked token with id {token_id}; see `smartcron-collector list-tokens`"
        )
    click.echo(f"token {token_id} revoked")


@main.command("hash-password")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def hash_password_command(password: str) -> None:
    """Print a hash for --admin-password-hash / SMARTCRON_ADMIN_PASSWORD_HASH."""
    from .auth import hash_password

    click.echo(hash_password(password))


@main.command()
@db_option
@config_option
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              envvar="SMARTCRON_COLLECTOR_LISTEN")  # fmt: skip
@click.option("--admin-user", default="admin", show_default=True, envvar="SMARTCRON_ADMIN_USER")
@click.option("--admin-password-hash", envvar="SMARTCRON_ADMIN_PASSWORD_HASH", default=None,
              metavar="HASH|file:PATH",
              help="from `smartcron-collector hash-password`; file:PATH reads it from a file "
                   "(keeps it out of ps, as does the environment variable)")  # fmt: skip
@click.option("--secure-cookies/--no-secure-cookies", default=False,
              help="mark cookies Secure (set when served over https)")  # fmt: skip
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="worker processes, each with its own socket (SO_REUSEPORT); "
                   "one per core is a good start")  # fmt: skip
@click.option("--request-timeout", default=10.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(0, min_open=True), envvar="SMARTCRON_COLLECTOR_REQUEST_TIMEOUT",
              help="close a connection that has not sent a whole request within this")  # fmt: skip
@click.option("--evaluate-every", "evaluate_every", default=15.0, show_default=True,
              type=click.FloatRange(0, 86400), envvar="SMARTCRON_EVALUATE_EVERY",
              help="seconds between passes that mark jobs late (0: off)")  # fmt: skip
@click.option("--alert-every", "alert_every", default=15.0, show_default=True,
              type=click.FloatRange(0, 86400), envvar="SMARTCRON_ALERT_EVERY",
              help="seconds between alert passes, run by one replica at a time (0: off; "
                   "`smartcron-collector alerts` runs them alone)")  # fmt: skip
@click.pass_context
def serve(
    ctx: click.Context,
    db_url: str | None,
    config_file: str | None,
    listen: str,
    admin_user: str,
    admin_password_hash: str | None,
    secure_cookies: bool,
    workers: int,
    request_timeout: float,
    evaluate_every: float,
    alert_every: float,
) -> None:
    """Run the HTTP service."""
    import uvicorn

    from . import serving
    from .ticker import Ticker, ticks

    table = _load_config(config_file)
    db_url = db_url or table.db
    listen = _from_file(ctx, "listen", listen, table.listen)
    admin_user = _from_file(ctx, "admin_user", admin_user, table.admin_user)
    admin_password_hash = admin_password_hash or table.admin_password_hash
    secure_cookies = _from_file(ctx, "secure_cookies", secure_cookies, table.secure_cookies)
    workers = _from_file(ctx, "workers", workers, table.workers)
    request_timeout = _from_file(ctx, "request_timeout", request_timeout, table.request_timeout)
    evaluate_every = _from_file(ctx, "evaluate_every", evaluate_every, table.evaluate_every)
    alert_every = _from_file(ctx, "alert_every", alert_every, table.alert_every)
    delivery = _check_delivery(table, config_file)
    host, port = _parse_listen(listen)
    if admin_password_hash is not None:
        from .password_hash import HINT, PasswordHashError, resolve_password_hash

        try:
            admin_password_hash = resolve_password_hash(admin_password_hash)
        except PasswordHashError as error:
            raise click.BadParameter(str(error), param_hint=HINT) from None
    url = db_url or _default_db()
    engine = _engine(url)
    if engine.dialect.name == "sqlite":
        _init_schema(engine)  # the embedded default needs no separate step
    _require_schema(engine)
    settings = CollectorSettings(db_url=url, host=host, port=port, admin_user=admin_user,
                                 admin_password_hash=admin_password_hash,
                                 secure_cookies=secure_cookies,
                                 request_timeout_s=request_timeout,
                                 evaluate_every_s=evaluate_every,
                                 alert_every_s=alert_every,
                                 delivery=delivery)  # fmt: skip
    if admin_password_hash is None:
        click.echo("smartcron-collector: warning: no --admin-password-hash; the page cannot be "
                   "logged into (admin tokens still work)", err=True)  # fmt: skip
    try:
        sockets = serving.bind(host, port, workers)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {listen}: {error.strerror or error}; choose another --listen"
        ) from None
    port = sockets[0].getsockname()[1]  # the one the kernel chose for --listen HOST:0
    if settings.delivery.url is None:  # links in alerts: the page where serve listens
        page = f"http://{_url_host(host)}:{port}"
        settings.delivery = settings.delivery.model_copy(update={"url": page})
    os.environ[ENV_SETTINGS] = settings.model_dump_json()
    click.echo(f"smartcron-collector listening on http://{_url_host(host)}:{port}/ "
               f"({engine.url.render_as_string(hide_password=True)})", err=True)  # fmt: skip
    # uvicorn's httptools protocol with a request deadline and a connection cap
    # (connections.py): uvicorn alone keeps a connection that never sends a request.
    config = uvicorn.Config("smartcron.collector.cli:app_from_environment", factory=True,
                            host=host, port=port, log_level="warning", access_log=False,
                            proxy_headers=False,
                            http=GUARDED_HTTP)  # fmt: skip
    # The tick (evaluation, alerts, delivery) in a process of its own (ticker.py).
    ticker = Ticker() if ticks(settings) else None
    sys.exit(serving.serve(config, sockets, ticker))


@main.command("alerts")
@db_option
@config_option
@click.option("--every", default=15.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(1, 86400), envvar="SMARTCRON_ALERT_EVERY",
              help="seconds between passes")  # fmt: skip
@click.option("--once", is_flag=True, help="run one pass, print what it did, and exit")
def alerts_command(db_url: str | None, config_file: str | None, every: float, once: bool) -> None:
    """Run the alert engine's passes (missed runs, failures, hosts) without serving HTTP;
    with other collectors against the same database, one at a time holds the lease."""
    from .alerting.delivery import Delivery
    from .alerting.loop import CollectorTick
    from .periodic import PeriodicLoop

    table = _load_config(config_file)
    engine = _engine(db_url or table.db)
    _require_schema(engine)
    # Each pass's new alerts go out right after it, through the file's channels.
    deliver = Delivery(_check_delivery(table, config_file)).run_pass
    tick = CollectorTick(engine, every, deliver=deliver, prune=False)
    if once:
        ticked = _database_call(tick)
        _database_call(tick.release)  # done: free it
        result = ticked.alerts
        if result is None:
            click.echo("another collector holds the alert lease: no pass run", err=True)
            return
        held = " (held: the collector is just back from an outage)" if result.held else ""
        counts = (f"{result.opened} opened, {result.repeated} repeated, "
                  f"{result.resolved} resolved, {result.silenced} silenced")  # fmt: skip
        runs = f"{result.runs_examined} runs examined in {result.seconds:.2f} s"
        click.echo(f"alert pass: {counts}, {runs}{held}")
        return
    click.echo(f"smartcron-collector alerts: a pass every {every:g} s "
               f"({engine.url.render_as_string(hide_password=True)})", err=True)  # fmt: skip
    import signal
    import threading

    loop = PeriodicLoop("alert tick", every, tick, tick.release)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    loop.start()
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        loop.stop()


def _check_delivery(table: CollectorTable, config_file: str | None) -> DeliveryConfig:
    """The file's delivery settings, once every channel's URL is known to be usable."""
    from .alerting.channels import make_senders

    delivery = table.delivery()
    try:
        make_senders(delivery.channels)
    except ValueError as error:
        raise ConfigProblem(f"{_config_where(config_file)}{error}") from None
    return delivery


def _config_where(config_file: str | None) -> str:
    """'config FILE: [collector] ', as the file's other problems begin, to name the file."""
    from .alerting.config import config_path

    path = config_path(config_file, os.environ)
    return f"config {path}: [collector] " if path else "[collector] "


@main.command("test-alert")
@config_option
@click.argument("channel")
def test_alert_command(config_file: str | None, channel: str) -> None:
    """Send one test message to CHANNEL (a [collector.channels.NAME]) and say what happened."""
    from .alerting.channels import SendFailed, make_sender
    from .alerting.messages import test_message
    from .alerting.redact import shown_url

    delivery = _check_delivery(_load_config(config_file), config_file)
    if channel not in delivery.channels:
        known = ", ".join(delivery.channels) or "none is configured"
        raise ConfigProblem(
            f"{_config_where(config_file)}no channel {channel!r} in [collector.channels]; "
            f"known: {known}"
        )
    config = delivery.channels[channel]
    where = f"{channel} ({config.kind}, {shown_url(config.url)})"
    try:
        make_sender(channel, config).send(test_message(channel, delivery.url))
    except SendFailed as error:
        raise click.ClickException(f"{where}: the test message was not sent: {error}") from None
    click.echo(f"{where}: the test message was sent")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def app_from_environment() -> FastAPI:
    """uvicorn's factory: each worker builds its app and engine from the settings."""
    from .app import create_app
    from .db.engine import create_db_engine

    settings = settings_from_environment()
    return create_app(settings, create_db_engine(settings.db_url))


def _parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(
            f"{listen!r} is not HOST:PORT, e.g. 127.0.0.1:8080", param_hint="--listen"
        )
    return host.strip("[]"), int(port)


def _init_schema(engine: Engine) -> str:
    from .db.migrate import SchemaError, migrate

    try:
        return _database_call(lambda: migrate(engine))
    except SchemaError as error:
        raise click.ClickException(str(error)) from None


def _require_schema(engine: Engine) -> None:
    from .db.migrate import SchemaError, check_schema

    try:
        _database_call(lambda: check_schema(engine))
    except SchemaError as error:
        raise click.ClickException(str(error)) from None


def _database_call(action: Callable[[], T]) -> T:
    from sqlalchemy.exc import DBAPIError

    try:
        return action()
    except DBAPIError as error:
        message = str(getattr(error, "orig", error)).splitlines()[0]
        raise click.ClickException(
            f"database error: {message}; check --db and that the server is up"
        ) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
