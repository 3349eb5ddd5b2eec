"""The Redis online store: one string per (view, key), newer-wins batches in one Lua script call.

Layout (``prefix`` defaults to ``shipyard:online:``):

* ``<prefix>{<view>}:<key>`` holds one string: ``event_ts`` and ``created_ts`` as big-endian signed
  int64 (16 bytes), then the row's value bytes. A read is one ``MGET``.
* ``<prefix>{<view>}`` is a SET of the view's row keys, kept by the same script that writes the rows,
  so ``count`` is ``SCARD`` and ``delete_view`` needs no ``SCAN``.

``<view>`` is written with ``%`` and ``}`` percent-escaped, so the braces are a Redis Cluster hash
tag: every key of a view lives in one slot, and no (view, key) pair can spell another's name.

Writes: the batch is reduced to its newest row per key, then one ``EVALSHA`` compares every row
with the stored one (on the 16-byte prefix, as signed integers) and, only after all comparisons
succeeded, sets the newer ones and adds them to the view's set. A Redis script runs alone, so the
call applies completely or not at all. A batch of more than :data:`MAX_SCRIPT_ROWS` keys is written
as several such calls, each atomic on its own: a crash between two calls leaves the first ones
written, which is harmless because writes are idempotent and newer-wins (write the batch again).

Thread safety: redis-py's client keeps a connection pool, so one store is shared by threads; a
forked child opens its own connections.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shipyard._internal._lazy import require
from shipyard.exceptions import BackendUnavailable, ConfigError
from shipyard.online._rows import check_view, newest_per_key
from shipyard.online.base import OnlineRow, OnlineStore

#: Rows per script call; a larger batch is split into calls of this size (each atomic).
MAX_SCRIPT_ROWS = 10_000
#: Keys removed per script call by ``delete_view``.
_DELETE_CHUNK = 1_000
_HEADER = struct.Struct(">qq")

# KEYS[1]: the view's set; KEYS[i] (i >= 2): row keys; ARGV[i - 1]: the packed row for KEYS[i].
# Pass 1 only reads (any error leaves the database untouched); pass 2 writes.
_WRITE_SCRIPT = """
local set = KEYS[1]
local kind = redis.call('TYPE', set)['ok']
if kind ~= 'none' and kind ~= 'set' then
  return redis.error_reply('shipyard: ' .. set .. ' holds a ' .. kind .. ', not the set of a view')
end
local take, m = {}, 0
for i = 2, #KEYS do
  local old = redis.call('GET', KEYS[i])
  local newer = true
  if old then
    local a1, a2, a3, a4 = struct.unpack('>i4I4i4I4', ARGV[i - 1])
    local b1, b2, b3, b4 = struct.unpack('>i4I4i4I4', old)
    if a1 ~= b1 then newer = a1 > b1
    elseif a2 ~= b2 then newer = a2 > b2
    elseif a3 ~= b3 then newer = a3 > b3
    else newer = a4 >= b4 end
  end
  if newer then m = m + 1; take[m] = i end
end
for j = 1, m do
  redis.call('SET', KEYS[take[j]], ARGV[take[j] - 1])
end
for j = 1, m, 1000 do
  local members = {}
  for t = j, math.min(j + 999, m) do members[#members + 1] = KEYS[take[t]] end
  redis.call('SADD', set, unpack(members))
end
return m
"""
# KEYS[1]: the view's set; ARGV[1]: how many keys to remove. Set and rows change together.
_DELETE_SCRIPT = """
local members = redis.call('SPOP', KEYS[1], ARGV[1])
if #members > 0 then redis.call('DEL', unpack(members)) end
return #members
"""


def mask_uri(uri: str) -> str:
    """``uri`` with the password (in the user info or a ``password=`` query option) replaced by ``***``."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if "password" in query:
        query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _escape_view(view: str) -> str:
    return view.replace("%", "%25").replace("}", "%7D")


def _unescape_view(text: str) -> str:
    return text.replace("%7D", "}").replace("%25", "%")


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisOnlineStore(OnlineStore):
    """Latest rows per (view, key) in Redis. See the module docstring for the layout.

    Args:
        uri: ``redis://[[user]:password@]host:port/db`` or ``rediss://...`` (TLS); redis-py's query
            options (``?socket_timeout=5``) are accepted.
        prefix: the start of every key this store uses, to share one database between deployments.

    Connecting is lazy: nothing reaches the server until the first call.
    """

    def __init__(self, uri: str, *, prefix: str = "shipyard:online:") -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(f"Invalid Redis key prefix {prefix!r}: braces are reserved for the view's hash tag.")
        redis = require("redis", "redis", "The Redis online store")
        self._uri = mask_uri(uri)
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError,)
        try:
            self._client = redis.Redis.from_url(uri, socket_connect_timeout=5.0, socket_timeout=30.0)
        except ValueError as exc:
            raise ConfigError(
                f"Invalid Redis online store URI {self._uri!r}: {exc}. Expected redis://host:6379/0 "
                "(or rediss:// for TLS). Fix online_uri (SHIPYARD_ONLINE_URI or shipyard.toml)."
            ) from exc
        self._write_script = self._client.register_script(_WRITE_SCRIPT)
        self._delete_script = self._client.register_script(_DELETE_SCRIPT)

    @property
    def uri(self) -> str:
        return self._uri

    def _set_key(self, view: str) -> str:
        return f"{self.prefix}{{{_escape_view(view)}}}"

    def _unavailable(self, action: str, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(
            f"Cannot {action} the Redis online store at {self._uri}: {type(exc).__name__}: {exc}. Expected a "
            "Redis server (5 or later) that accepts these credentials.",
            hint="Start Redis (e.g. `redis-server`), or point online_uri (SHIPYARD_ONLINE_URI or shipyard.toml) "
            "at a reachable server.",
        )

    def write(self, view: str, rows: Sequence[OnlineRow]) -> int:
        """Upsert ``rows`` (newest per key): one atomic script call per :data:`MAX_SCRIPT_ROWS` keys.

        Returns:
            How many keys got the batch's row (a key whose stored row is newer is not counted).

        Raises:
            InvalidParameter: a malformed row or view name (nothing is written).
            BackendUnavailable: Redis cannot be reached or refused the script (nothing of the failed
                call is written; earlier calls of a batch over :data:`MAX_SCRIPT_ROWS` keys are).
        """
        check_view(view)
        newest = newest_per_key(rows)
        set_key = self._set_key(view)
        row_prefix = set_key + ":"
        pack = _HEADER.pack
        stored = 0
        for start in range(0, len(newest), MAX_SCRIPT_ROWS):
            chunk = newest[start : start + MAX_SCRIPT_ROWS]
            keys = [set_key, *(row_prefix + r.key for r in chunk)]
            args = [pack(r.event_ts, r.created_ts) + r.values for r in chunk]
            try:
                stored += int(self._write_script(keys=keys, args=args))
            except self._errors as exc:
                raise self._unavailable("write to", exc) from exc
        return stored

    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRow | None]:
        """The stored row of every key, in the order of ``keys`` (duplicates allowed): one ``MGET``.

        Raises:
            BackendUnavailable: Redis cannot be reached.
        """
        if not keys:
            return []
        row_prefix = self._set_key(view) + ":"
        try:
            found = self._client.mget([row_prefix + k for k in keys])
        except self._errors as exc:
            raise self._unavailable("read from", exc) from exc
        unpack = _HEADER.unpack_from
        out: list[OnlineRow | None] = []
        for key, raw in zip(keys, found, strict=True):
            if raw is None:
                out.append(None)
            else:
                event_ts, created_ts = unpack(raw)
                out.append(OnlineRow(key, event_ts, created_ts, raw[16:]))
        return out

    def delete_view(self, view: str) -> int:
        """Remove every row of ``view``; returns how many there were.

        Runs as script calls of 1,000 keys, each removing rows and their set members together.

        Raises:
            BackendUnavailable: Redis cannot be reached.
        """
        set_key = self._set_key(view)
        removed = 0
        try:
            while True:
                n = int(self._delete_script(keys=[set_key], args=[_DELETE_CHUNK]))
                removed += n
                if n < _DELETE_CHUNK:
                    return removed
        except self._errors as exc:
            raise self._unavailable("delete from", exc) from exc

    def count(self, view: str) -> int:
        """How many keys ``view`` holds (``SCARD``).

        Raises:
            BackendUnavailable: Redis cannot be reached.
        """
        try:
            return int(self._client.scard(self._set_key(view)))
        except self._errors as exc:
            raise self._unavailable("read from", exc) from exc

    def info(self) -> dict[str, Any]:
        """``backend``, ``uri``, ``prefix``, ``server_version`` and ``views`` (name → key count).

        Finding the views scans the database's keys (``SCAN ... TYPE set``): cheap for a database
        that holds only Shipyard's rows, slower beside millions of other keys.

        Raises:
            BackendUnavailable: Redis cannot be reached.
        """
        pattern = _glob_escape(self.prefix) + "{*}"
        start = len(self.prefix) + 1
        try:
            version = self._client.info("server").get("redis_version", "unknown")
            views: dict[str, int] = {}
            for name in self._client.scan_iter(match=pattern, count=1000, _type="set"):
                text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
                views[_unescape_view(text[start:-1])] = int(self._client.scard(name))
        except self._errors as exc:
            raise self._unavailable("read from", exc) from exc
        return {"backend": "redis", "uri": self._uri, "prefix": self.prefix, "server_version": version,
                "views": dict(sorted(views.items()))}

    def close(self) -> None:
        """Close the pool's connections. The store stays usable: a later call reconnects."""
        self._client.close()
