"""Request limits and quotas on a live server: body size (413), stalled bodies (408), the
per-project artifact-bytes quota (403 naming it), all in the one error model."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.config import Settings
from shipyard.workspace import Workspace, build_workspace

from ..conftest import LiveServer


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[LiveServer, Workspace]]:
    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 's.db'}", artifact_uri=(tmp_path / "art").as_uri(),
                                  server_max_body_bytes=4096, server_body_timeout=0.5))
    with LiveServer(ws) as server:
        yield server, ws
    ws.close()


def test_a_body_over_the_limit_is_refused_with_413(limited: tuple[LiveServer, Workspace]) -> None:
    server, _ws = limited
    url = f"{server.url}/api/v1/store/create_experiment"
    big = json.dumps({"project": "p", "name": "x" * 10_000}).encode()
    said = httpx.post(url, content=big, headers={"content-type": "application/json"})
    assert said.status_code == 413
    body = said.json()
    assert body["error_code"] == "REQUEST_TOO_LARGE" and "4096" in body["message"] and body["hint"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    streamed = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error_code"] == "REQUEST_TOO_LARGE"
    mlflow = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", content=big)
    assert mlflow.status_code == 413
    # Nothing was created, and the server still answers normal requests
    ok = httpx.post(url, json={"project": "p", "name": "small"})
    assert ok.status_code == 200, ok.text
    names = [e["name"] for e in httpx.post(f"{server.url}/api/v1/store/list_experiments", json={"project": "p"}).json()]
    assert names == ["small"]


def test_a_stalled_body_gets_408_and_frees_the_connection(limited: tuple[LiveServer, Workspace]) -> None:
    server, _ws = limited
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/store/list_experiments HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{\"proj")
        started = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            block = sock.recv(65536)
            if not block:
                break
            answer += block
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"REQUEST_TIMEOUT" in answer and waited < 5


def test_artifact_bytes_quota_refuses_with_403_naming_it(limited: tuple[LiveServer, Workspace]) -> None:
    server, ws = limited
    store = ws.metadata
    store.set_quota("default", "artifact_bytes", 1000)  # type: ignore[attr-defined]
    base = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/default/1"
    assert httpx.put(f"{base}/a.bin", content=b"a" * 600).status_code == 200
    refused = httpx.put(f"{base}/b.bin", content=b"b" * 600)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error_code"] == "QUOTA_EXCEEDED" and "artifact_bytes" in refused.json()["message"]
    assert httpx.get(f"{base}/b.bin").status_code == 404  # nothing of the refused upload is kept
    [quota] = store.list_quotas("default")  # type: ignore[attr-defined]
    assert quota.used == 600
    # Other projects are not charged
    assert httpx.put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/other/1/c.bin", content=b"c" * 900,
                     headers={"x-mlflow-workspace": "other"}).status_code == 200


def test_a_stalled_artifact_upload_gets_408_and_keeps_nothing(limited: tuple[LiveServer, Workspace]) -> None:
    server, ws = limited
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /api/2.0/mlflow-artifacts/artifacts/default/1/slow.bin HTTP/1.1\r\nHost: x\r\n"
                     b"content-length: 100000\r\n\r\n" + b"s" * 5000)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert ws.artifacts.list("default") == []


def test_quota_covers_the_shipyard_artifact_api_single_and_multipart(limited: tuple[LiveServer, Workspace]) -> None:
    from shipyard.artifacts._rest import RestArtifactStore
    from shipyard.exceptions import QuotaExceeded

    server, ws = limited
    store = ws.metadata
    store.set_quota("q", "artifact_bytes", 10_000)  # type: ignore[attr-defined]
    with httpx.Client(base_url=server.url) as http:
        art = RestArtifactStore("shipyard-artifacts:/q/files", http, part_size=3000)
        art.write("small.bin", b"s" * 2000)                      # one request
        art.write("big.bin", b"b" * 7000)                        # three parts
        assert store.list_quotas("q")[0].used == 9000  # type: ignore[attr-defined]
        with pytest.raises(QuotaExceeded, match="artifact_bytes"):
            art.write("more.bin", b"m" * 2000)
        with pytest.raises(QuotaExceeded, match="artifact_bytes"):
            art.write("more-big.bin", b"m" * 6500)
        assert sorted(art.list()) == ["big.bin", "small.bin"]
        chunked = http.put("/api/v1/artifacts/q/files/chunked.bin", content=iter([b"c" * 1000, b"c" * 1000]))
        assert chunked.status_code == 403 and chunked.json()["error_code"] == "QUOTA_EXCEEDED"
        assert sorted(art.list()) == ["big.bin", "small.bin"]
        art.delete("big.bin")  # deleting releases the bytes
        assert store.list_quotas("q")[0].used == 2000  # type: ignore[attr-defined]
        art.write("more.bin", b"m" * 2000)
