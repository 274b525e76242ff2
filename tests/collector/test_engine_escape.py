"""The engine's own datetime encoder for pymysql (db/engine.py): the text pymysql's
escape_datetime writes, and the same instant back from MariaDB."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from pymysql import converters
from smartcron.collector.db.engine import escape_datetime
from sqlalchemy import Engine, text

MOMENTS = st.datetimes()  # naive, from year 1 to 9999's last microsecond


@given(MOMENTS)
def test_a_naive_time_is_written_as_pymysql_writes_it(moment: dt.datetime) -> None:
    # Whole seconds without a fraction, years below 1000 with their zeros.
    assert escape_datetime(moment) == converters.escape_datetime(moment)


@given(MOMENTS, st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)))
def test_an_aware_time_is_left_to_pymysql(moment: dt.datetime, offset: dt.timedelta) -> None:
    aware = moment.replace(tzinfo=dt.timezone(offset))
    assert escape_datetime(aware) == converters.escape_datetime(aware)
    assert escape_datetime(aware) == escape_datetime(moment)  # the zone is dropped


def test_the_engine_binds_times_with_it_and_mysql_reads_them_back(mysql_engine: Engine) -> None:
    moments = [dt.datetime(2026, 3, 29, 1, 59, 59, 999_999), dt.datetime(2026, 3, 29, 2, 0),
               dt.datetime(999, 1, 2, 3, 4, 5, 6)]  # fmt: skip
    with mysql_engine.connect() as connection:
        driver = connection.connection.dbapi_connection
        assert driver is not None and driver.encoders[dt.datetime] is escape_datetime
        for moment in moments:
            back = connection.execute(text("SELECT CAST(:t AS DATETIME(6))"), {"t": moment})
            assert back.scalar_one() == moment
