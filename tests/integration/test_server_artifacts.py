"""The artifact proxy's multipart uploads: protocol, integrity checks, clean-up, tenant isolation, an
S3-backed server, and a 1 GiB round trip through a server process whose memory is watched."""

from __future__ import annotations

import hashlib
import io
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.access import issue_token
from shipyard.artifacts._local import LocalArtifactStore
from shipyard.artifacts._rest import RestArtifactStore
from shipyard.config import Settings
from shipyard.entities import Role
from shipyard.exceptions import IntegrityError, InvalidParameter, NotFound
from shipyard.server._artifacts import STAGING, purge_stale_uploads
from shipyard.storage._rest import RestStore
from shipyard.workspace import build_workspace

from ..conftest import LiveServer
from .conftest import ServerProcess

MiB = 1024 * 1024
UPLOADS = "/api/v1/artifacts-uploads"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server over SQLite and a local artifact root (which the tests inspect directly)."""
    root = tmp_path_factory.mktemp("multipart")
    ws = build_workspace(Settings(store_uri=f"sqlite:///{root / 'meta.db'}", artifact_uri=(root / "art").as_uri()))
    with LiveServer(ws) as live:
        client = RestStore(live.url)
        yield {"url": live.url, "http": client.http, "root": root / "art"}
        client.close()
    ws.close()


def _staged(root: Path) -> list[str]:
    """Files left in the staging area of multipart uploads (temporaries included)."""
    folder = root / STAGING
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


class _Stream(io.RawIOBase):
    """A non-seekable producer of ``size`` bytes that raises after ``fail_after`` bytes, if given."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self.data = data
        self.pos = 0
        self.fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.fail_after is not None and self.pos >= self.fail_after:
            raise OSError("producer died")
        n = min(len(buffer), len(self.data) - self.pos, 256 * 1024)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def _requests(http: httpx.Client) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    http.event_hooks["request"].append(lambda r: seen.append((r.method, r.url.path)))
    return seen


@pytest.mark.parametrize("kind", ["bytes", "file", "stream"])
@pytest.mark.parametrize("size", [3 * MiB, 3 * MiB + 12345])
def test_large_files_go_up_in_verified_parts(server: dict[str, Any], tmp_path: Path, kind: str, size: int) -> None:
    data = random.Random(size).randbytes(size)
    http = RestStore(server["url"]).http
    seen = _requests(http)
    store = RestArtifactStore(f"shipyard-artifacts:/mp/{uuid.uuid4().hex}", http, part_size=MiB)
    if kind == "bytes":
        source: Any = data
    elif kind == "file":
        (tmp_path / "f.bin").write_bytes(data)
        source = open(tmp_path / "f.bin", "rb")  # noqa: SIM115 - closed below
    else:
        source = io.BufferedReader(_Stream(data))
    assert store.write("big.bin", source) == (size, hashlib.sha256(data).hexdigest())
    if kind == "file":
        assert source.tell() == size
        source.close()
    with store.open_reader("big.bin") as fh:
        assert fh.read() == data
    parts = -(-size // MiB)
    assert [m for m, p in seen if p.startswith(UPLOADS)] == ["POST"] + ["PUT"] * parts + ["POST"]
    assert not any(p.startswith("/api/v1/artifacts/") for _m, p in seen if _m == "PUT")
    assert _staged(server["root"]) == []


def test_files_up_to_one_part_are_one_request(server: dict[str, Any]) -> None:
    http = RestStore(server["url"]).http
    seen = _requests(http)
    store = RestArtifactStore(f"shipyard-artifacts:/mp/{uuid.uuid4().hex}", http, part_size=MiB)
    for source in (b"x" * MiB, io.BufferedReader(_Stream(b"y" * MiB)), io.BytesIO(b"z" * 10), b""):
        store.write("one.bin", source)  # type: ignore[arg-type]
    assert [m for m, _p in seen] == ["PUT"] * 4
    assert store.list() == ["one.bin"]


def test_a_failed_upload_is_aborted_and_leaves_nothing(server: dict[str, Any]) -> None:
    http = RestStore(server["url"]).http
    seen = _requests(http)
    store = RestArtifactStore(f"shipyard-artifacts:/mp/{uuid.uuid4().hex}", http, part_size=MiB)
    with pytest.raises(OSError, match="producer died"):
        store.write("dead.bin", io.BufferedReader(_Stream(b"d" * 5 * MiB, fail_after=3 * MiB)))  # type: ignore[arg-type]
    calls = [m for m, p in seen if p.startswith(UPLOADS)]
    assert calls[0] == "POST" and set(calls[1:-1]) == {"PUT"} and calls[-1] == "DELETE", calls  # no complete
    assert store.list() == []
    assert _staged(server["root"]) == []


class _Rewritten(io.BytesIO):
    """A file that changes while it is uploaded: once the client has moved on to hash the second part,
    the first part's bytes change before they are sent."""

    moved = False

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET and offset > 0:
            self.moved = True
        elif whence == io.SEEK_SET and self.moved:
            with self.getbuffer() as view:
                view[10] ^= 0xFF
        return super().seek(offset, whence)


def test_bytes_that_change_in_flight_are_refused(server: dict[str, Any]) -> None:
    store = RestArtifactStore(f"shipyard-artifacts:/mp/{uuid.uuid4().hex}", RestStore(server["url"]).http, part_size=MiB)
    with pytest.raises(IntegrityError, match="changed after the client hashed them"):
        store.write("moving.bin", _Rewritten(random.Random(5).randbytes(3 * MiB)))
    assert store.list() == []
    assert _staged(server["root"]) == []


def test_the_server_checks_every_part_and_the_whole_file(server: dict[str, Any]) -> None:
    http, root = server["http"], server["root"]
    path = f"mp/{uuid.uuid4().hex}/checked.bin"
    one, two = b"a" * 1000, b"b" * 500
    sha = {b: hashlib.sha256(b).hexdigest() for b in (one, two, one + two)}
    upload_id = http.post(UPLOADS, json={"path": path}).json()["upload_id"]
    url = f"{UPLOADS}/{upload_id}"
    # a part whose bytes do not match its declared sha256 is refused and not kept
    bad = http.put(f"{url}/1", content=one, headers={"x-shipyard-sha256": sha[two]})
    assert bad.status_code == 500 and bad.json()["error_code"] == "INTEGRITY_ERROR", bad.text
    assert _staged(root) == [f"{upload_id}/session.json"]
    assert http.put(f"{url}/1", content=one).json()["error_code"] == "INVALID_PARAMETER"  # no sha256 header
    # completing with a missing part names it
    response = http.post(f"{url}/complete", json={"parts": [{"part": 1, "size": 1000, "sha256": sha[one]}],
                                                 "size": 1000, "sha256": sha[one]})
    assert response.status_code == 400 and "no part(s) 1" in response.json()["message"]
    assert http.put(f"{url}/1", content=one, headers={"x-shipyard-sha256": sha[one]}).json()["size"] == 1000
    assert http.put(f"{url}/2", content=two, headers={"x-shipyard-sha256": sha[two]}).json()["sha256"] == sha[two]
    parts = [{"part": 1, "size": 1000, "sha256": sha[one]}, {"part": 2, "size": 500, "sha256": sha[two]}]
    # a wrong whole-file sha256, a wrong size, or parts out of order: nothing becomes visible
    for body in ({"parts": parts, "size": 1500, "sha256": sha[one]}, {"parts": parts, "size": 1499, "sha256": sha[one + two]},
                 {"parts": parts[::-1], "size": 1500, "sha256": sha[one + two]}):
        response = http.post(f"{url}/complete", json=body)
        assert response.status_code in (400, 500), response.text
        assert http.get(f"/api/v1/artifacts/{path}").status_code == 404
    assert not (root / path).exists() and not list((root / path).parent.glob("*"))
    done = http.post(f"{url}/complete", json={"parts": parts, "size": 1500, "sha256": sha[one + two]}).json()
    assert done == {"path": path, "size": 1500, "sha256": sha[one + two]}
    assert http.get(f"/api/v1/artifacts/{path}").content == one + two
    assert _staged(root) == []
    assert http.put(f"{url}/3", content=b"", headers={"x-shipyard-sha256": hashlib.sha256().hexdigest()}).status_code == 404


def test_a_single_upload_with_a_wrong_sha256_is_not_stored(server: dict[str, Any]) -> None:
    http = server["http"]
    path = f"mp/{uuid.uuid4().hex}/single.bin"
    assert http.put(f"/api/v1/artifacts/{path}", content=b"old").status_code == 200
    wrong = hashlib.sha256(b"something else").hexdigest()
    response = http.put(f"/api/v1/artifacts/{path}", content=b"new", headers={"x-shipyard-sha256": wrong})
    assert response.json()["error_code"] == "INTEGRITY_ERROR"
    assert http.get(f"/api/v1/artifacts/{path}").content == b"old"


def test_abort_removes_the_parts_and_the_staging_area_is_out_of_reach(server: dict[str, Any]) -> None:
    http, root = server["http"], server["root"]
    upload_id = http.post(UPLOADS, json={"path": f"mp/{uuid.uuid4().hex}/x.bin"}).json()["upload_id"]
    sha = hashlib.sha256(b"part").hexdigest()
    http.put(f"{UPLOADS}/{upload_id}/1", content=b"part", headers={"x-shipyard-sha256": sha})
    listed = http.get("/api/v1/artifacts-list", params={"prefix": ""}).json()["paths"]
    assert not [p for p in listed if p.startswith(STAGING)]
    for path in (f"{STAGING}/{upload_id}/session.json", f"{STAGING}/{upload_id}/part-00001"):
        assert http.get(f"/api/v1/artifacts/{path}").status_code == 404
        assert http.put(f"/api/v1/artifacts/{path}", content=b"x").status_code == 404
    assert http.get("/api/v1/artifacts-list", params={"prefix": STAGING}).status_code == 404
    assert http.request("DELETE", "/api/v1/artifacts-list", params={"prefix": STAGING}).status_code == 404
    assert http.post(UPLOADS, json={"path": f"{STAGING}/x"}).status_code == 404
    assert http.post(UPLOADS, json={"path": "../x"}).status_code == 400
    assert http.request("DELETE", f"{UPLOADS}/{upload_id}").json() == {"deleted": 2}
    assert not [p for p in _staged(root) if p.startswith(upload_id)]
    assert http.put(f"{UPLOADS}/{upload_id}/2", content=b"part", headers={"x-shipyard-sha256": sha}).status_code == 404
    assert http.post(f"{UPLOADS}/not-an-id/complete", json={"parts": [], "size": 0, "sha256": sha}).status_code == 404


def test_stale_uploads_are_purged(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path.as_uri())
    old, new = f"{int(time.time()) - 90_000:010d}-{'a' * 32}", f"{int(time.time()):010d}-{'b' * 32}"
    for upload_id in (old, new):
        store.write(f"{STAGING}/{upload_id}/session.json", b"{}")
        store.write(f"{STAGING}/{upload_id}/part-00001", b"x")
    store.write("proj/kept.txt", b"k")
    assert purge_stale_uploads(store) == 1
    assert store.list(STAGING) == [f"{STAGING}/{new}/part-00001", f"{STAGING}/{new}/session.json"]
    assert purge_stale_uploads(store, older_than_s=0, now=time.time() + 10) == 1
    assert store.list() == ["proj/kept.txt"]


def test_an_upload_belongs_to_its_project_and_user(tmp_path: Path) -> None:
    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 'a.db'}", artifact_uri=(tmp_path / "art").as_uri()))
    store = ws.metadata
    for name in ("ana", "bo", "cy"):
        store.create_user(name)  # type: ignore[attr-defined]
    tokens = {who: issue_token(store, who, project, role)[1]  # type: ignore[arg-type]
              for who, project, role in (("ana", "A", Role.EDITOR), ("bo", "A", Role.EDITOR), ("cy", "B", Role.EDITOR))}
    with LiveServer(ws, auth=True) as live:
        clients = {who: RestStore(live.url, token=token) for who, token in tokens.items()}
        http = {who: c.http for who, c in clients.items()}
        assert http["cy"].post(UPLOADS, json={"path": "A/x.bin"}).status_code == 404
        upload_id = http["ana"].post(UPLOADS, json={"path": "A/x.bin"}).json()["upload_id"]
        sha = hashlib.sha256(b"x").hexdigest()
        for who in ("bo", "cy"):  # another user of the project, a user of another project
            assert http[who].put(f"{UPLOADS}/{upload_id}/1", content=b"x", headers={"x-shipyard-sha256": sha}).status_code == 404
            assert http[who].request("DELETE", f"{UPLOADS}/{upload_id}").status_code == 404
        assert http["ana"].put(f"{UPLOADS}/{upload_id}/1", content=b"x", headers={"x-shipyard-sha256": sha}).status_code == 200
        assert httpx.put(f"{live.url}{UPLOADS}/{upload_id}/1", content=b"x", headers={"x-shipyard-sha256": sha}).status_code == 401
        big = random.Random(1).randbytes(3 * MiB)
        rest = RestArtifactStore("shipyard-artifacts:/A/files", http["ana"], part_size=MiB)
        assert rest.write("big.bin", big)[0] == len(big)
        with pytest.raises(NotFound):
            RestArtifactStore("shipyard-artifacts:/A/files", http["cy"], part_size=MiB).write("big.bin", big)
        for c in clients.values():
            c.close()
    ws.close()


def test_client_refuses_a_silly_part_size(server: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter, match="part_size"):
        RestArtifactStore("shipyard-artifacts:/mp", server["http"], part_size=0)


@pytest.mark.backend("s3")
def test_multipart_through_a_server_over_s3(tmp_path: Path, s3_endpoint: str) -> None:
    from shipyard.artifacts._s3 import S3ArtifactStore

    prefix = f"s3://shipyard/mp-{uuid.uuid4().hex[:8]}"
    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_uri=prefix, s3_endpoint_url=s3_endpoint))
    data = random.Random(3).randbytes(2 * MiB + 77)
    with LiveServer(ws) as live:
        client = RestStore(live.url)
        store = RestArtifactStore("shipyard-artifacts:/p/run", client.http, part_size=MiB)
        assert store.write("model.bin", io.BytesIO(data)) == (len(data), hashlib.sha256(data).hexdigest())
        with store.open_reader("model.bin") as fh:
            assert fh.read() == data
        with pytest.raises(OSError, match="producer died"):
            store.write("dead.bin", io.BufferedReader(_Stream(data, fail_after=MiB + 1)))  # type: ignore[arg-type]
        client.close()
    assert S3ArtifactStore(prefix, endpoint_url=s3_endpoint).list() == ["p/run/model.bin"]
    ws.close()


# -- 1 GiB through a server process, memory watched ---------------------------------------------------


class _Generated(io.RawIOBase):
    """``size`` bytes made on the fly, never held whole, seekable: block ``i`` (1 MiB) is ``i`` as 8
    bytes followed by a fixed random pattern, so every part differs and reordering would show."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0
        self.pattern = random.Random(11).randbytes(MiB)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset
        return self.pos

    def block(self, index: int) -> bytes:
        return index.to_bytes(8, "little") + self.pattern[8:]

    def readinto(self, buffer: Any) -> int:
        index, within = divmod(self.pos, MiB)
        n = min(len(buffer), self.size - self.pos, MiB - within)
        if n <= 0:
            return 0
        buffer[:n] = self.block(index)[within : within + n]
        self.pos += n
        return n


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


class _Peak:
    """The peak resident memory of a process over a phase: the kernel's high-water mark (reset at the
    start of the phase through /proc/<pid>/clear_refs where allowed) and VmRSS sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> _Peak:
        self.base = _kib(self.pid, "VmRSS")
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.sampled = self.base
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.01):
            self.sampled = max(self.sampled, _kib(self.pid, "VmRSS"))

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.sampled, _kib(self.pid, "VmHWM") if self.hwm_reset else 0)
        self.growth_mib = (self.peak - self.base) / 1024


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads the server's memory from /proc")
def test_one_gib_round_trip_keeps_the_server_memory_flat(tmp_path: Path, record_property: Any) -> None:
    size = 1024 * MiB
    with ServerProcess(f"sqlite:///{tmp_path / 'srv.db'}", (tmp_path / "srv-art").as_uri(), tmp_path) as srv:
        client = RestStore(srv.url)
        store = RestArtifactStore("shipyard-artifacts:/big/run/artifacts", client.http)
        assert store.part_size == 64 * MiB
        warm = RestArtifactStore("shipyard-artifacts:/big/run/artifacts", client.http, part_size=MiB)
        warm.write("warm-up.bin", _Generated(3 * MiB))  # first requests import and allocate what they need
        with store.open_reader("warm-up.bin") as fh:
            fh.read()
        started = time.monotonic()
        with _Peak(srv.pid) as up:
            written, sha = store.write("model/weights.bin", _Generated(size))
        upload_s = time.monotonic() - started
        assert written == size
        assert not (tmp_path / "srv-art" / STAGING).exists() or _staged(tmp_path / "srv-art") == []
        expected = _Generated(size)
        digest, got = hashlib.sha256(), 0
        started = time.monotonic()
        with _Peak(srv.pid) as down, store.open_reader("model/weights.bin") as fh:
            while block := fh.read(MiB):
                assert block == expected.read(len(block)), f"bytes differ at offset {got}"
                digest.update(block)
                got += len(block)
        download_s = time.monotonic() - started
        client.close()
    assert (got, digest.hexdigest()) == (size, sha)
    text = (
        f"1 GiB upload (16 parts of 64 MiB): {upload_s:.1f} s, server peak RSS {up.peak / 1024:.0f} MiB "
        f"(+{up.growth_mib:.1f} MiB over {up.base / 1024:.0f} MiB)\n"
        f"1 GiB download: {download_s:.1f} s, server peak RSS {down.peak / 1024:.0f} MiB (+{down.growth_mib:.1f} MiB)"
    )
    record_property("measurements", text)
    print(text)
    assert up.growth_mib < 200 and down.growth_mib < 200, text


def test_a_stalled_body_gets_408_and_keeps_nothing(tmp_path: Path) -> None:
    """The server's idle timeout reaches bodies streamed into the store: the write aborts."""
    import socket

    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 's.db'}", artifact_uri=(tmp_path / "art").as_uri(),
                                  server_body_timeout=0.5))
    with LiveServer(ws) as live:
        http = RestStore(live.url).http
        upload_id = http.post(UPLOADS, json={"path": "p/big.bin"}).json()["upload_id"]
        sha = hashlib.sha256(b"never sent").hexdigest()
        for target in ("/api/v1/artifacts/p/slow.bin", f"{UPLOADS}/{upload_id}/1"):
            with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
                sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: x\r\ncontent-length: 100000\r\n"
                             f"x-shipyard-sha256: {sha}\r\n\r\n".encode() + b"s" * 5000)
                answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
        assert ws.artifacts.list("p") == []
        assert _staged(tmp_path / "art") == [f"{upload_id}/session.json"]
    ws.close()
