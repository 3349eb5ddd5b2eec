"""The tracking client the commands work with (after the root options configured the settings)."""

from __future__ import annotations

from shipyard.tracking import TrackingClient


def tracking_client() -> TrackingClient:
    from shipyard.tracking._fluent import client

    return client()


def run_id(ref: str, include_deleted: bool = False) -> str:
    """A full run id from a unique prefix (as the tables show: the first 8 characters)."""
    import re

    from shipyard.exceptions import InvalidParameter, NotFound

    if len(ref) == 32 or not re.fullmatch(r"[0-9a-f]{4,31}", ref):
        return ref
    found = tracking_client().search(filter=f"attributes.run_id LIKE '{ref}%'", limit=2, include_deleted=include_deleted)
    if not found:
        raise NotFound(f"No run id starts with {ref!r}. Find runs with `shipyard runs list`.")
    if len(found) > 1:
        raise InvalidParameter(f"Run id prefix {ref!r} is ambiguous ({found[0].id}, {found[1].id}, ...): give more characters.")
    return found[0].id
