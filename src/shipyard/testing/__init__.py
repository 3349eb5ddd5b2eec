"""Conformance suites every backend must pass (third-party backends import them too).

Subclass a suite in your tests and provide the ``store`` fixture::

    class TestMyStore(MetadataStoreSuite):
        @pytest.fixture
        def store(self):
            return MyStore(...)

A deliberate deviation is a ``pytest.skip("reason")`` in the subclass, never a silent difference.
"""

from shipyard.testing._artifact_suite import ArtifactStoreSuite
from shipyard.testing._flavor_suite import FlavorSuite
from shipyard.testing._metadata_suite import MetadataStoreSuite
from shipyard.testing._online_suite import OnlineStoreSuite
from shipyard.testing._registry_suite import RegistryStoreSuite

__all__ = ["ArtifactStoreSuite", "FlavorSuite", "MetadataStoreSuite", "OnlineStoreSuite", "RegistryStoreSuite"]
