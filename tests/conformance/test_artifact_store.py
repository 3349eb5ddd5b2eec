"""The artifact store conformance suite against every backend: local disk and S3 (moto on loopback)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shipyard.artifacts._local import LocalArtifactStore
from shipyard.artifacts._s3 import S3ArtifactStore
from shipyard.testing import ArtifactStoreSuite


class TestLocal(ArtifactStoreSuite):
    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalArtifactStore:
        return LocalArtifactStore((tmp_path / "artifacts").as_uri())

    def test_no_temporaries_left_after_failure(self, store: LocalArtifactStore) -> None:
        self.test_failed_write_leaves_nothing_visible(store)
        assert store.temporaries() == []


@pytest.mark.backend("s3")
class TestS3(ArtifactStoreSuite):
    @pytest.fixture
    def store(self, s3_endpoint: str) -> S3ArtifactStore:
        return S3ArtifactStore(f"s3://shipyard/{uuid.uuid4().hex}", endpoint_url=s3_endpoint)

    def test_no_pending_multipart_upload_after_failure(self, store: S3ArtifactStore) -> None:
        import io

        from shipyard.testing._artifact_suite import _Exploding

        with pytest.raises(OSError):
            store.write("x.bin", io.BufferedReader(_Exploding(20 * 1024 * 1024)))  # type: ignore[arg-type]
        uploads = store.fs.call_s3("list_multipart_uploads", Bucket="shipyard").get("Uploads", [])
        assert [u for u in uploads if u["Key"].startswith(store._base.split("/", 1)[1])] == []
