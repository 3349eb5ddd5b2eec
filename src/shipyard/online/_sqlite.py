"""The embedded online store: one SQLite file (WAL), one table, newer-wins upserts.

Layout: ``online_rows(view, key, event_ts, created_ts, value)`` with the primary key ``(view, key)``,
``WITHOUT ROWID`` so a read is one B-tree search per key. A write is one ``BEGIN IMMEDIATE``
transaction of ``INSERT ... ON CONFLICT DO UPDATE ... WHERE (new event_ts, created_ts) >= (stored)``
over the batch reduced to its newest row per key, so it applies completely or not at all.

Concurrency: connections come from a small pool (one per thread in use at a time), so one store is
shared by threads; several processes may open the same file (WAL lets readers run beside the single
writer; writers queue on the lock for up to ``busy_timeout`` seconds). A forked child opens its own
connections.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shipyard.exceptions import BackendUnavailable, ConfigError
from shipyard.online._rows import check_view, newest_per_key
from shipyard.online.base import OnlineRow, OnlineStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_rows (
    view TEXT NOT NULL,
    key TEXT NOT NULL,
    event_ts INTEGER NOT NULL,
    created_ts INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (view, key)
) WITHOUT ROWID
"""
_UPSERT = (
    "INSERT INTO online_rows (view, key, event_ts, created_ts, value) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (view, key) DO UPDATE SET event_ts = excluded.event_ts, created_ts = excluded.created_ts, "
    "value = excluded.value WHERE (excluded.event_ts, excluded.created_ts) >= (online_rows.event_ts, online_rows.created_ts)"
)
_SELECT_ONE = "SELECT key, event_ts, created_ts, value FROM online_rows WHERE view = ? AND key = ?"
_SELECT_MANY = "SELECT key, event_ts, created_ts, value FROM online_rows WHERE view = ? AND key IN ({})"
#: Keys per ``IN (...)``: below SQLite's smallest host-parameter limit (999 before 3.32), leaving one for the view.
_CHUNK = 900


def _path_of(uri: str) -> str:
    """``sqlite:///relative.db`` or ``sqlite:////abs/online.db`` → the file path.

    Raises:
        ConfigError: not a ``sqlite:///`` URI, or an in-memory database.
    """
    if not uri.startswith("sqlite:///"):
        raise ConfigError(
            f"Invalid SQLite online store URI {uri!r}: expected sqlite:///relative/online.db or "
            "sqlite:////absolute/online.db. Fix online_uri (SHIPYARD_ONLINE_URI or shipyard.toml)."
        )
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if path in ("", ":memory:") or path.startswith("file:"):
        raise ConfigError(
            f"The online store {uri!r} names no file: an in-memory SQLite database is not shared between "
            "threads and processes. Give a file, e.g. sqlite:///.shipyard/online.db."
        )
    return str(Path(path).expanduser().absolute())


class SqliteOnlineStore(OnlineStore):
    """Latest rows per (view, key) in one SQLite file. See the module docstring for the layout.

    Args:
        uri: ``sqlite:///path/online.db`` (relative) or ``sqlite:////abs/online.db``; the parent
            directory is created.
        busy_timeout: seconds a writer waits for another writer (thread or process) before failing.
    """

    def __init__(self, uri: str, busy_timeout: float = 60.0) -> None:
        self._uri = uri
        self.path = _path_of(uri)
        self.busy_timeout = float(busy_timeout)
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._abandoned: list[sqlite3.Connection] = []  # a parent's connections, never used after fork
        self._select_many: dict[int, str] = {}
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._release(self._connect(create=True))

    @property
    def uri(self) -> str:
        return self._uri

    # -- connections -------------------------------------------------------------------------------

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False,
                cached_statements=256,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if create:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(_SCHEMA)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA mmap_size = 1073741824")  # reads map the file: no copy per page read
        except sqlite3.Error as exc:
            raise self._unavailable("open", exc) from exc
        return conn

    def _acquire(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:  # forked: the parent's connections must not be used here
            self._abandoned.extend(self._idle)
            self._idle = []
            self._pid = os.getpid()
        try:
            return self._idle.pop()  # list.pop and append are atomic: a lock-free pool
        except IndexError:
            return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        self._idle.append(conn)

    def _unavailable(self, action: str, exc: sqlite3.Error) -> BackendUnavailable:
        return BackendUnavailable(
            f"Cannot {action} the SQLite online store {self.path}: {exc}. Expected a writable SQLite file "
            f"that no other writer holds for more than {self.busy_timeout:g} s.",
            hint="Check the path's permissions and free disk space, or raise sqlite_busy_timeout.",
        )

    def close(self) -> None:
        """Close the idle connections. The store stays usable: a later call opens new ones."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                break
            conn.close()

    # -- the port ----------------------------------------------------------------------------------

    def write(self, view: str, rows: Sequence[OnlineRow]) -> int:
        """Upsert ``rows`` (newest per key) in one transaction.

        Returns:
            How many keys got the batch's row (a key whose stored row is newer is not counted).

        Raises:
            InvalidParameter: a malformed row or view name (nothing is written).
            BackendUnavailable: the file cannot be written, or stayed locked past ``busy_timeout``.
        """
        check_view(view)
        newest = newest_per_key(rows)
        if not newest:
            return 0
        params = [(view, r.key, r.event_ts, r.created_ts, r.values) for r in newest]
        conn = self._acquire()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise self._unavailable("write", exc) from exc
            try:
                before = conn.total_changes
                conn.executemany(_UPSERT, params)
                stored = conn.total_changes - before
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:  # SQLite rolls back by itself after some errors
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise self._unavailable("write", exc) from exc
                raise
        finally:
            self._release(conn)
        return stored

    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRow | None]:
        """The stored row of every key, in the order of ``keys`` (duplicates allowed).

        Raises:
            BackendUnavailable: the file cannot be read.
        """
        n = len(keys)
        if n == 0:
            return []
        conn = self._acquire()
        try:
            if n == 1:
                found = conn.execute(_SELECT_ONE, (view, keys[0])).fetchone()
                return [OnlineRow(*found) if found is not None else None]
            rows: dict[str, OnlineRow] = {}
            unique = list(dict.fromkeys(keys)) if n > _CHUNK else keys
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                sql = self._select_many.get(len(chunk))
                if sql is None:
                    sql = self._select_many[len(chunk)] = _SELECT_MANY.format(",".join("?" * len(chunk)))
                for key, event_ts, created_ts, value in conn.execute(sql, (view, *chunk)):
                    rows[key] = OnlineRow(key, event_ts, created_ts, value)
            return [rows.get(k) for k in keys]
        except sqlite3.OperationalError as exc:
            raise self._unavailable("read", exc) from exc
        finally:
            self._release(conn)

    def delete_view(self, view: str) -> int:
        """Remove every row of ``view`` in one transaction; returns how many there were.

        Raises:
            BackendUnavailable: the file cannot be written.
        """
        return self._execute("DELETE FROM online_rows WHERE view = ?", (view,), write=True)

    def count(self, view: str) -> int:
        """How many keys ``view`` holds.

        Raises:
            BackendUnavailable: the file cannot be read.
        """
        return self._execute("SELECT count(*) FROM online_rows WHERE view = ?", (view,), write=False)

    def info(self) -> dict[str, Any]:
        """``backend``, ``uri``, ``path``, ``size_bytes`` and ``views`` (name → key count)."""
        conn = self._acquire()
        try:
            views = dict(conn.execute("SELECT view, count(*) FROM online_rows GROUP BY view ORDER BY view"))
        except sqlite3.OperationalError as exc:
            raise self._unavailable("read", exc) from exc
        finally:
            self._release(conn)
        size = sum(os.path.getsize(p) for p in (self.path, self.path + "-wal") if os.path.exists(p))
        return {"backend": "sqlite", "uri": self.uri, "path": self.path, "size_bytes": size, "views": views}

    def _execute(self, sql: str, params: tuple[Any, ...], write: bool) -> int:
        conn = self._acquire()
        try:
            if write:
                cursor = conn.execute(sql, params)  # autocommit: one statement is one transaction
                return int(cursor.rowcount)
            return int(conn.execute(sql, params).fetchone()[0])
        except sqlite3.OperationalError as exc:
            raise self._unavailable("write" if write else "read", exc) from exc
        finally:
            self._release(conn)
