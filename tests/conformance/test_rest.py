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
