"""The web UI: server-rendered pages (Jinja2) over the same domain functions as the SDK and the REST API.

``install(app)`` mounts it at ``/ui`` of a server app (``shipyard server`` and ``shipyard ui`` both do),
with ``/`` redirecting there. Static files (uPlot, vendored with its licence; the UI's own CSS and
script) are served from the package: nothing comes from a CDN. On an authenticated server, a page asks
for a token once (the login form) and keeps it in an HttpOnly, SameSite=Strict cookie; every page
checks the caller's role in the project it shows, like the REST API does.
"""

from __future__ import annotations

from shipyard.ui._app import install

__all__ = ["install"]
