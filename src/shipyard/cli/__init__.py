"""The ``shipyard`` command line (Typer + Rich)."""

from shipyard.cli._app import app, main

__all__ = ["app", "main"]
