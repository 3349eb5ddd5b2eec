"""Shared fixtures: isolated settings per test, and the real services behind markers.

Services: PostgreSQL comes from ``SHIPYARD_TEST_POSTGRES_URI`` (default: the local server at
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); a fresh database is created per test
session and dropped afterwards. Redis comes from ``SHIPYARD_TEST_REDIS_URI`` (default:
``redis://127.0.0.1:6379/15``); tests share the database and keep apart by unique key prefixes.
S3 is a moto server on loopback, started here. When
``SHIPYARD_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing service fails the run instead of
skipping it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("shipyard.testing")

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
REQUIRE = os.environ.get("SHIPYARD_TEST_REQUIRE_SERVICES") == "1"


def _unavailable(what: str, why: str, env: str = "SHIPYARD_TEST_POSTGRES_URI") -> None:
    message = f"{what} is not available ({why}). Start it, or set {env}."
    if REQUIRE:
        pytest.fail(f"SHIPYARD_TEST_REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own embedded home and fresh settings."""
    from shipyard import config
    from shipyard.workspace import reset_workspace

    for key in list(os.environ):
        if key.startswith("SHIPYARD_") and not key.startswith("SHIPYARD_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    config.reset()
    reset_workspace()
    from shipyard.tracking import _fluent

    _fluent._clients.clear()
    yield
    for run in list(_fluent._all_runs):
        try:
            run.end()
        except Exception:  # noqa: BLE001
            pass
    _fluent._local.__dict__.clear()
    reset_workspace()
    config.reset()


@pytest.fixture(scope="session")
def postgres_server_uri() -> str:
    return os.environ.get("SHIPYARD_TEST_POSTGRES_URI", DEFAULT_PG)


@pytest.fixture(scope="session")
def postgres_uri(postgres_server_uri: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session (dropped afterwards)."""
    try:
        import psycopg
    except ImportError:
        _unavailable("PostgreSQL", "psycopg is not installed")
    from sqlalchemy.engine import make_url

    url = make_url(postgres_server_uri)
    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    conninfo = f"host={url.host or '127.0.0.1'} port={url.port or 5432} user={url.username or 'postgres'} dbname={url.database or 'postgres'}"
    if url.password:
        conninfo += f" password={url.password}"
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", str(exc).strip().splitlines()[0])
    yield url.set(database=name).render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass


@pytest.fixture(scope="session")
def redis_uri() -> str:
    """The Redis server of the tests (one database, shared: give each test its own key prefix)."""
    uri = os.environ.get("SHIPYARD_TEST_REDIS_URI", DEFAULT_REDIS)
    try:
        import redis
    except ImportError:
        _unavailable("Redis", "the redis package is not installed: pip install 'shipyard-mlops[redis]'", "SHIPYARD_TEST_REDIS_URI")
    client = redis.Redis.from_url(uri, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        _unavailable("Redis", f"{uri}: {exc}", "SHIPYARD_TEST_REDIS_URI")
    finally:
        client.close()
    return uri


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible endpoint on loopback (moto's standalone server), with a ``shipyard`` bucket."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        _unavailable("The S3 test endpoint", "moto[server] is not installed")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="shipyard")
    yield endpoint
    server.stop()


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta.db'}"


class LiveServer:
    """A real Shipyard server on a loopback socket, in a thread of the test process."""

    def __init__(self, workspace: object, auth: bool = False) -> None:
        import threading

        import uvicorn

        from shipyard.server import create_app

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(workspace, auth=auth), host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server over a session-wide embedded store (SQLite + local artifacts)."""
    from shipyard.config import Settings
    from shipyard.workspace import build_workspace

    root = tmp_path_factory.mktemp("server")
    settings = Settings(store_uri=f"sqlite:///{root / 'server.db'}", artifact_uri=(root / "artifacts").as_uri())
    workspace = build_workspace(settings)
    with LiveServer(workspace) as server:
        yield server
    workspace.close()


# Under xdist only this root conftest is loaded in the controller, so the summary hook lives here.
def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what tests recorded with ``record_property("measurements", text)`` (latencies, memory),
    so the numbers appear in every run's output, with or without ``-s``."""
    seen: dict[str, str] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "measurements":
                    seen.setdefault(report.nodeid, str(value))
    if seen:
        terminalreporter.section("server measurements")
        for nodeid, text in sorted(seen.items()):
            terminalreporter.write_line(nodeid)
            for line in text.splitlines():
                terminalreporter.write_line(f"    {line}")
