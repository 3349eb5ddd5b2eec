"""Model URIs: ``models:/name/3``, ``models:/name@alias``, ``models:/name/latest``,
``runs:/<run id>/<path>``, and local package directories."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.exceptions import InvalidParameter

_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+|latest)|@(?P<alias>[A-Za-z0-9_\-.]+))$")
_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})/(?P<path>.+)$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-.]{0,255}$")


@dataclass(frozen=True)
class ModelRef:
    kind: str  # "version" | "alias" | "latest" | "run" | "path"
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None


def parse(uri: str) -> ModelRef:
    """Parse a model URI.

    Raises:
        InvalidParameter: the URI has none of the accepted forms (the message lists them).
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameter(f"A model URI must be a non-empty string, got {uri!r}.")
    m = _MODELS.match(uri)
    if m:
        if m["alias"]:
            return ModelRef("alias", name=m["name"], alias=m["alias"])
        if m["version"] == "latest":
            return ModelRef("latest", name=m["name"])
        return ModelRef("version", name=m["name"], version=int(m["version"]))
    m = _RUNS.match(uri)
    if m:
        return ModelRef("run", run_id=m["run"], path=m["path"].strip("/"))
    if uri.startswith(("models:", "runs:")):
        raise InvalidParameter(
            f"Cannot parse model URI {uri!r}. Use models:/<name>/<version>, models:/<name>@<alias>, "
            "models:/<name>/latest, runs:/<run id>/<path>, or a local package directory."
        )
    return ModelRef("path", path=uri.removeprefix("file://"))


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.match(alias) or alias == "latest":
        raise InvalidParameter(
            f"Invalid alias {alias!r}: start with a letter; use letters, digits, '_', '-', '.'; 'latest' is reserved."
        )
    return alias
