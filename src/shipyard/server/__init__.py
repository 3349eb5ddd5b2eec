"""The team server (L7): the platform API over HTTP, for ``shipyard server`` and the REST store."""

from shipyard.server._app import create_app

__all__ = ["create_app"]
