"""Shipyard's exceptions: one root, a small documented tree, messages that carry the fix.

::

    ShipyardError                      root of everything Shipyard raises on purpose
    ├── ConfigError                    bad or missing configuration (shipyard.toml, SHIPYARD_* env)
    ├── NotFound                       a record or artifact that does not exist
    ├── AlreadyExists                  a unique name or key is taken
    ├── InvalidParameter               bad input at a public boundary
    │   └── FilterSyntaxError          a malformed search filter, with the bad token pointed at
    ├── IntegrityError                 stored bytes do not match their recorded sha256
    ├── SchemaVersionError             the store's schema is older / newer than this code
    ├── BackendUnavailable             a database, bucket or service cannot be reached
    ├── ContractViolation              data that breaks a declared schema / contract
    ├── AuthenticationError            no credentials, or an unknown / revoked / expired token (401)
    └── PermissionDenied               the credentials do not allow this (403)

Every class carries ``http_status`` so servers and the UI map errors without special cases.
Message format: what happened, what was expected, how to fix it.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Root of every error Shipyard raises on purpose."""

    http_status: int = 500
    error_code: str = "INTERNAL_ERROR"


class ConfigError(ShipyardError):
    """Configuration is invalid or incomplete."""

    http_status = 400
    error_code = "CONFIG_ERROR"


class NotFound(ShipyardError):
    """The requested record or artifact does not exist."""

    http_status = 404
    error_code = "NOT_FOUND"


class AlreadyExists(ShipyardError):
    """A record with the same unique name or key already exists."""

    http_status = 409
    error_code = "ALREADY_EXISTS"


class InvalidParameter(ShipyardError):
    """An argument given at a public boundary is not acceptable."""

    http_status = 400
    error_code = "INVALID_PARAMETER"


class FilterSyntaxError(InvalidParameter):
    """A search filter or order-by clause could not be parsed.

    Attributes:
        text: the full filter text.
        position: character offset of the offending token.
    """

    error_code = "INVALID_FILTER"

    def __init__(self, message: str, text: str, position: int) -> None:
        self.text = text
        self.position = position
        pointer = " " * max(position, 0) + "^"
        super().__init__(f"{message}\n    {text}\n    {pointer}")


class IntegrityError(ShipyardError):
    """Stored bytes do not match the sha256 recorded for them (corrupted, truncated or missing)."""

    http_status = 500
    error_code = "INTEGRITY_ERROR"


class SchemaVersionError(ShipyardError):
    """The metadata store's schema does not match the version this code expects."""

    http_status = 503
    error_code = "SCHEMA_VERSION"


class BackendUnavailable(ShipyardError):
    """A backend (database, object store, service) cannot be reached or refused the operation."""

    http_status = 503
    error_code = "BACKEND_UNAVAILABLE"


class ContractViolation(ShipyardError):
    """Data does not satisfy a declared schema or contract."""

    http_status = 422
    error_code = "CONTRACT_VIOLATION"


class AuthenticationError(ShipyardError):
    """No credentials, or an unknown, revoked or expired token."""

    http_status = 401
    error_code = "UNAUTHENTICATED"


class PermissionDenied(ShipyardError):
    """The caller is known but may not do this (role too low, or another project)."""

    http_status = 403
    error_code = "PERMISSION_DENIED"


__all__ = [
    "AuthenticationError",
    "PermissionDenied",
    "AlreadyExists",
    "BackendUnavailable",
    "ConfigError",
    "ContractViolation",
    "FilterSyntaxError",
    "IntegrityError",
    "InvalidParameter",
    "NotFound",
    "SchemaVersionError",
    "ShipyardError",
]
