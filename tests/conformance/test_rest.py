"""The store and artifact conformance suites against a live Shipyard server over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.artifacts._rest import RestArtifactStore
from shipyard.storage._rest import RestStore
from shipyard.testing import ArtifactStoreSuite, MetadataStoreSuite


class TestRestStore(MetadataStoreSuite):
    @pytest.fixture
    def store(self, live_server: Any) -> Iterator[RestStore]:
        store = RestStore(live_server.url)
        yield store
        store.close()


class TestRestArtifacts(ArtifactStoreSuite):
    @pytest.fixture
    def store(self, live_server: Any) -> Iterator[RestArtifactStore]:
        client = RestStore(live_server.url)
        yield RestArtifactStore(f"shipyard-artifacts:/suite-{uuid.uuid4().hex}", client.http)
        client.close()


class TestRestArtifactsMultipart(ArtifactStoreSuite):
    """The same suite with 4 MiB parts: the larger files go up as multipart uploads (and the failing
    producer dies in the middle of one, which must leave nothing behind)."""

    @pytest.fixture
    def store(self, live_server: Any) -> Iterator[RestArtifactStore]:
        client = RestStore(live_server.url)
        yield RestArtifactStore(f"shipyard-artifacts:/suite-{uuid.uuid4().hex}", client.http, part_size=4 * 1024 * 1024)
        client.close()
