"""``ArtifactStoreSuite``: the behaviour every artifact store must show."""

from __future__ import annotations

import hashlib
import io

import pytest

from shipyard.artifacts.base import ArtifactStore
from shipyard.exceptions import InvalidParameter, NotFound


class _Exploding(io.RawIOBase):
    """A stream that fails after ``limit`` bytes, like a crashing producer."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise OSError("producer died")
        n = min(len(buffer), self.left, 1024 * 1024)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


class ArtifactStoreSuite:
    """Subclass and override the ``store`` fixture (an empty store)."""

    @pytest.fixture
    def store(self) -> ArtifactStore:
        raise NotImplementedError("Override the `store` fixture to return the backend under test.")

    def test_write_read_round_trip(self, store: ArtifactStore) -> None:
        data = b"hello shipyard\n" * 1000
        size, sha = store.write("dir/a.txt", data)
        assert size == len(data) and sha == hashlib.sha256(data).hexdigest()
        with store.open_reader("dir/a.txt") as fh:
            assert fh.read() == data

    def test_write_from_stream_and_overwrite(self, store: ArtifactStore) -> None:
        store.write("f.bin", io.BytesIO(b"one"))
        size, sha = store.write("f.bin", io.BytesIO(b"second"))
        assert size == 6 and sha == hashlib.sha256(b"second").hexdigest()
        with store.open_reader("f.bin") as fh:
            assert fh.read() == b"second"

    def test_large_streamed_write(self, store: ArtifactStore) -> None:
        payload = bytes(range(256)) * (4 * 4096 * 8 + 17)  # ~33 MiB: several multipart chunks
        size, sha = store.write("big/blob.bin", io.BytesIO(payload))
        assert size == len(payload) and sha == hashlib.sha256(payload).hexdigest()
        with store.open_reader("big/blob.bin") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == sha

    def test_empty_file(self, store: ArtifactStore) -> None:
        size, sha = store.write("empty", b"")
        assert size == 0 and sha == hashlib.sha256(b"").hexdigest()
        with store.open_reader("empty") as fh:
            assert fh.read() == b""

    def test_list_and_delete(self, store: ArtifactStore) -> None:
        for path in ("a/1.txt", "a/b/2.txt", "ab/3.txt", "c.txt"):
            store.write(path, b"x")
        assert store.list() == ["a/1.txt", "a/b/2.txt", "ab/3.txt", "c.txt"]
        assert store.list("a") == ["a/1.txt", "a/b/2.txt"]
        assert store.list("missing") == []
        assert store.delete("a") == 2
        assert store.list() == ["ab/3.txt", "c.txt"]
        assert store.delete("c.txt") == 1
        assert store.delete("") == 1
        assert store.list() == []

    def test_sizes(self, store: ArtifactStore) -> None:
        store.write("s/a.bin", b"x" * 1000)
        store.write("s/sub/b.bin", b"")
        store.write("t.bin", b"yz")
        assert store.sizes("s") == {"s/a.bin": 1000, "s/sub/b.bin": 0}
        assert store.sizes("nothing-here") == {}

    def test_missing_is_not_found(self, store: ArtifactStore) -> None:
        with pytest.raises(NotFound):
            store.open_reader("nope.txt")

    @pytest.mark.parametrize("bad", ["../escape.txt", "a/../../b", "/etc/passwd", "", "s3://x/y", "C:\\x"])
    def test_path_traversal_refused(self, store: ArtifactStore, bad: str) -> None:
        with pytest.raises(InvalidParameter):
            store.write(bad, b"x")
        with pytest.raises(InvalidParameter):
            store.open_reader(bad)

    def test_failed_write_leaves_nothing_visible(self, store: ArtifactStore) -> None:
        store.write("keep.txt", b"old")
        for path, limit in (("keep.txt", 3 * 1024 * 1024), ("new.bin", 20 * 1024 * 1024)):
            with pytest.raises(OSError, match="producer died"):
                store.write(path, io.BufferedReader(_Exploding(limit)))  # type: ignore[arg-type,type-var]
        assert store.list() == ["keep.txt"]
        with store.open_reader("keep.txt") as fh:
            assert fh.read() == b"old"

    def test_uri_for(self, store: ArtifactStore) -> None:
        assert store.uri_for("a/b.txt").endswith("/a/b.txt")
