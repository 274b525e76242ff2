"""Fixtures for the collector's tests: a real MariaDB/MySQL and SQLite, schema applied.

Where the MySQL database comes from, first match wins:

1. ``SMARTCRON_TEST_MYSQL_URL=mysql+pymysql://USER:PASSWORD@HOST:PORT/DB``: that database is
   used as it is (emptied between tests, never dropped). Without a database in the URL a
   fresh ``smartcron_test_<random>`` is created on that server for the session and dropped
   at the end. Tests that need an empty database create ``smartcron_test_empty_<random>``
   beside it, so the user needs CREATE and DROP. ``SMARTCRON_TEST_MYSQL_URL=private``
   skips straight to step 3.
2. A server answering on 127.0.0.1:3306 as root without a password: a fresh
   ``smartcron_test_<random>`` database for the session, dropped at the end.
3. A throwaway mariadbd for the session, from Debian's mariadb-server binaries
   (``PrivateMariaDB``). Not pytest-mysql: it runs mariadb-install-db and mysqld_safe
   without ``--no-defaults``, so the machine's my.cnf leaks in (a ``user = mysql`` there
   makes mariadb-install-db fail under root), and mysqld_safe restarts a server that a
   fault test has just killed.

Nothing here skips: a test that asks for MySQL and cannot have one fails, naming what to
install. ``mysql_private`` is separate: a server of the module's own, on a free port, for
tests that stop, kill and restart the database under the collector.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from smartcron.collector.db.migrate import migrate
from sqlalchemy import URL, Engine, create_engine, delete, make_url
from sqlalchemy.pool import NullPool

from tests.support.collector_api import reset_store
from tests.support.receivers import MailReceiver, WebhookReceiver
from tests.support.service import Service, start_collector

URL_ENV = "SMARTCRON_TEST_MYSQL_URL"
LOCAL_HOST, LOCAL_PORT = "127.0.0.1", 3306
MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = Path("/usr/bin/mariadb-install-db")
SERVER_BINARIES = (MARIADBD, INSTALL_DB)
INSTALL_HINT = (
    "install MariaDB's server binaries (as root: scripts/system-deps, or "
    "apt-get install -y mariadb-server), or point "
    f"{URL_ENV} at a MySQL/MariaDB database, e.g. "
    f"{URL_ENV}=mysql+pymysql://root:secret@127.0.0.1:3306/smartcron_test"
)

# ---------------------------------------------------------------- the shared server


@dataclass
class MySQLServer:
    """A server the session may create and drop databases on."""

    url: URL  # no database

    def admin(self) -> Engine:
        return create_engine(self.url.set(database=None), poolclass=NullPool)

    def create_database(self, prefix: str = "smartcron_test") -> URL:
        name = f"{prefix}_{secrets.token_hex(4)}"
        admin = self.admin()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        admin.dispose()
        return self.url.set(database=name)

    def drop_database(self, url: URL) -> None:
        admin = self.admin()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{url.database}`")
        admin.dispose()


def _answers(url: URL) -> bool:
    """Whether a server takes a connection with these credentials."""
    try:
        connection = pymysql.connect(
            host=url.host or LOCAL_HOST,
            port=url.port or LOCAL_PORT,
            user=url.username or "root",
            password=url.password or "",
            unix_socket=url.query.get("unix_socket"),
            connect_timeout=2,
        )
    except pymysql.err.MySQLError:
        return False
    connection.close()
    return True


def _require_server_binaries(why: str) -> None:
    missing = [str(path) for path in SERVER_BINARIES if not path.exists()]
    if missing:
        pytest.fail(f"{why}, and {' and '.join(missing)} missing; {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def mysql_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> MySQLServer:
    configured = os.environ.get(URL_ENV, "").strip()
    if configured and configured != "private":
        url = make_url(configured)
        if url.get_backend_name() not in ("mysql", "mariadb"):
            pytest.fail(f"{URL_ENV}={configured!r} is not a mysql+pymysql:// URL", pytrace=False)
        if not _answers(url):
            shown = url.render_as_string(hide_password=True)
            pytest.fail(f"{URL_ENV}: nothing answers at {shown}", pytrace=False)
        return MySQLServer(url)
    if not configured:
        local = URL.create("mysql+pymysql", username="root", host=LOCAL_HOST, port=LOCAL_PORT)
        if _answers(local):
            return MySQLServer(local)
    _require_server_binaries(
        f"{URL_ENV}=private asks for a private MariaDB"
        if configured
        else f"no MySQL/MariaDB for the tests: nothing answers on {LOCAL_HOST}:{LOCAL_PORT} "
        "as root without a password"
    )
    server = PrivateMariaDB(tmp_path_factory.mktemp("mariadb"))
    server.install()
    server.start()
    request.addfinalizer(server.stop)
    return MySQLServer(server.server_url)


@pytest.fixture(scope="session")
def mysql_url(mysql_server: MySQLServer) -> Iterator[URL]:
    """The session's MySQL database, empty until a fixture applies the schema."""
    configured = os.environ.get(URL_ENV, "").strip()
    if configured and configured != "private" and make_url(configured).database:
        yield make_url(configured)
        return
    url = mysql_server.create_database()
    yield url
    mysql_server.drop_database(url)


# ---------------------------------------------------------------- engines for tests


def clear_tables(engine: Engine) -> None:
    """Empty every smartcron_ table of the metadata (faster than TRUNCATE); Alembic's
    version table is not one of them."""
    with engine.begin() as connection:
        for table in reversed(tables.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """SQLite in a temp file, migrated once for the session."""
    path = tmp_path_factory.mktemp("sqlite") / "collector.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_engine(mysql_url: URL) -> Iterator[Engine]:
    """The session's MySQL database, migrated once for the session."""
    engine = create_db_engine(mysql_url.render_as_string(hide_password=False))
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "mysql"])
def schema_engine(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def engine(schema_engine: Engine) -> Engine:
    """An engine on sqlite or mysql with the schema applied and every table empty."""
    clear_tables(schema_engine)
    return schema_engine


@pytest.fixture
def db_url(engine: Engine) -> str:
    """The same database as `engine`, as a --db URL for a collector process (password kept;
    str(engine.url) would mask it)."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(name="clear_tables")
def clear_tables_fixture() -> Callable[[Engine], None]:
    return clear_tables


@pytest.fixture(params=["sqlite", "mysql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a brand-new database with nothing in it (not migrated)."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    server: MySQLServer = request.getfixturevalue("mysql_server")
    url = server.create_database("smartcron_test_empty")
    engine = create_db_engine(url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    server.drop_database(url)


# ---------------------------------------------------------------- a server to break


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCAL_HOST, 0))
        return int(probe.getsockname()[1])


class PrivateMariaDB:
    """mariadbd of the test's own: its data directory, port and socket, nothing shared.

    Started directly (not under mysqld_safe, which would restart it behind a test's back)
    with --no-defaults, so the machine's my.cnf and its running server are never involved.
    """

    database = "smartcron"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.socket = str(base / "mysqld.sock")
        self.log = base / "mysqld.err"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def server_url(self) -> URL:
        return URL.create("mysql+pymysql", username="root", host=LOCAL_HOST, port=self.port)

    @property
    def url(self) -> str:
        """The `smartcron` database (created by the mysql_private fixture)."""
        return self.server_url.set(database=self.database).render_as_string()

    def install(self) -> None:
        _require_server_binaries("a test needs a private MariaDB")
        command = [
            str(INSTALL_DB),
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",  # root, no password, over TCP
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            pytest.fail(f"mariadb-install-db failed:\n{done.stdout}\n{done.stderr}")

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it takes connections."""
        assert self.process is None or self.process.poll() is not None, "already running"
        command = [
            str(MARIADBD),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            f"--bind-address={LOCAL_HOST}",
            f"--socket={self.socket}",
            f"--pid-file={self.base / 'mysqld.pid'}",
            f"--log-error={self.log}",
            f"--tmpdir={self.base}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._connectable():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"private mariadbd did not come up; its log:\n{self.log_tail()}")
            time.sleep(0.05)

    def _connectable(self) -> bool:
        return _answers(self.server_url)

    def stop(self, timeout: float = 60.0) -> None:
        """A clean shutdown (SIGTERM), waiting for it to finish."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown; InnoDB recovers on the next start."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


@pytest.fixture(scope="module")
def mysql_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    """A private, started MariaDB with an empty `smartcron` database; the module's to break."""
    # A short base path: a unix socket path must stay under 108 bytes.
    server = PrivateMariaDB(tmp_path_factory.mktemp("mariadb"))
    server.install()
    server.start()
    try:
        with pymysql.connect(host=LOCAL_HOST, port=server.port, user="root") as connection:
            connection.cursor().execute(
                f"CREATE DATABASE `{server.database}` CHARACTER SET utf8mb4"
            )
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.datadir, ignore_errors=True)


@pytest.fixture(scope="module")
def service(schema_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real `smartcron-collector serve` per test module, on the backend in hand. Its
    alert loop is off: the tests write and read the alert tables themselves, and a pass
    firing mid-test would resolve or open alerts under them (tests of the loop start a
    collector of their own)."""
    url = schema_engine.url.render_as_string(hide_password=False)
    extra = ("--alert-every", "0")
    with start_collector(url, tmp_path_factory.mktemp("collector"), extra=extra) as running:
        yield running


@pytest.fixture
def collector(
    service: Service, schema_engine: Engine, clear_tables: Callable[[Engine], None]
) -> Service:
    """The module's collector over an emptied store."""
    reset_store(schema_engine, clear_tables)
    return service


@pytest.fixture
def mysql_collector(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None], tmp_path: Path
) -> Iterator[Service]:
    """A collector of its own on MariaDB, for tests that hold a lock in the database
    (the module's `service` may be on SQLite)."""
    clear_tables(mysql_engine)
    url = mysql_engine.url.render_as_string(hide_password=False)
    with start_collector(url, tmp_path) as running:
        yield running


# ---------------------------------------------------------------- alert channels' receivers


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    """A webhook receiver on loopback that records each JSON body (or refuses: 503)."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def mail() -> Iterator[MailReceiver]:
    """An SMTP server on loopback (aiosmtpd) that records each message."""
    with MailReceiver() as receiver:
        yield receiver
