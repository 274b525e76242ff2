"""Column types as the revisions spell them, frozen: a revision must create tomorrow what
it created the day it was written, whatever tables.py says by then. Each is the type of
v0.1.0's sql/001_tables.sql on MySQL and of its tables.py on SQLite."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

MY = ("mysql", "mariadb")
Micro = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MY)
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MY)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys
RunId = sa.String(36).with_variant(mysql.CHAR(36), *MY)
Digest = sa.String(64).with_variant(mysql.CHAR(64), *MY)
Priority = sa.SmallInteger().with_variant(mysql.TINYINT(), *MY)
Double = sa.Float().with_variant(mysql.DOUBLE(), *MY)  # sa.Float is 4 bytes on MySQL
Flag = sa.Boolean().with_variant(mysql.TINYINT(display_width=1), *MY)

# Every MySQL table: InnoDB, and binary collation (job and host names are case-sensitive keys).
TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
