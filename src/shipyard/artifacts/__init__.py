"""Artifact store port (L2): bytes by path, written atomically, with size and sha256."""

from shipyard.artifacts.base import ArtifactStore

__all__ = ["ArtifactStore"]
