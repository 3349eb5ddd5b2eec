"""The tracking client the commands work with (after the root options configured the settings)."""

from __future__ import annotations

from shipyard.tracking import TrackingClient


def tracking_client() -> TrackingClient:
    from shipyard.tracking._fluent import client

    return client()
