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
    ├── PermissionDenied               the credentials do not allow this (403)
    │   └── QuotaExceeded              a project quota would be exceeded; names the quota (403)
    ├── RequestTooLarge                a request body over the server's limit (413)
    ├── Overloaded                     the server is busy or the client too slow; retry later (503)
    └── RateLimited                    a caller over its request rate; retry after the time given (429)

Every class carries ``http_status`` so servers and the UI map errors without special cases.
Message format: what happened, what was expected, how to fix it. ``hint`` is the "how to fix it"
on its own (given at the raise site, else the class's general advice); the wire error model sends it.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Root of every error Shipyard raises on purpose."""

    http_status: int = 500
    error_code: str = "INTERNAL_ERROR"
    default_hint: str = "This is a bug in Shipyard if it persists: report it with the message above."

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        self.hint = hint or self.default_hint


class ConfigError(ShipyardError):
    """Configuration is invalid or incomplete."""

    http_status = 400
    error_code = "CONFIG_ERROR"
    default_hint = 'Check shipyard.toml and the SHIPYARD_* environment variables; `shipyard config show` prints what is in effect.'


class NotFound(ShipyardError):
    """The requested record or artifact does not exist."""

    http_status = 404
    error_code = "NOT_FOUND"
    default_hint = 'Check the name or id and the project; list what exists with the CLI (`shipyard ... list`).'


class AlreadyExists(ShipyardError):
    """A record with the same unique name or key already exists."""

    http_status = 409
    error_code = "ALREADY_EXISTS"
    default_hint = 'Pick another name, or fetch the existing record instead of creating it.'


class InvalidParameter(ShipyardError):
    """An argument given at a public boundary is not acceptable."""

    http_status = 400
    error_code = "INVALID_PARAMETER"
    default_hint = 'Fix the value named in the message and send the request again.'


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
    default_hint = 'The stored bytes changed after they were recorded: restore them from a backup or log them again.'


class SchemaVersionError(ShipyardError):
    """The metadata store's schema does not match the version this code expects."""

    http_status = 503
    error_code = "SCHEMA_VERSION"
    default_hint = 'Run `shipyard store upgrade --store-uri ...` (back the database up first), or use a matching Shipyard version.'


class BackendUnavailable(ShipyardError):
    """A backend (database, object store, service) cannot be reached or refused the operation."""

    http_status = 503
    error_code = "BACKEND_UNAVAILABLE"
    default_hint = 'Check that the database / bucket / server is running and reachable, then retry.'


class ContractViolation(ShipyardError):
    """Data does not satisfy a declared schema or contract."""

    http_status = 422
    error_code = "CONTRACT_VIOLATION"
    default_hint = 'Fix the data so it matches the declared schema, or update the contract.'


class AuthenticationError(ShipyardError):
    """No credentials, or an unknown, revoked or expired token."""

    http_status = 401
    error_code = "UNAUTHENTICATED"
    default_hint = 'Send a valid token: `Authorization: Bearer sy_...` (create one with `shipyard token create`).'


class PermissionDenied(ShipyardError):
    """The caller is known but may not do this (role too low, or another project)."""

    http_status = 403
    error_code = "PERMISSION_DENIED"
    default_hint = 'Ask a project admin for a token with a higher role (`shipyard token create --project P --role editor`).'



class QuotaExceeded(PermissionDenied):
    """A write would take a project over one of its quotas (``quota`` names it)."""

    error_code = "QUOTA_EXCEEDED"
    default_hint = "Free space (delete old runs and `shipyard store gc`) or ask an admin to raise it (`shipyard quota set`)."


class RequestTooLarge(ShipyardError):
    """A request body over the server's size limit."""

    http_status = 413
    error_code = "REQUEST_TOO_LARGE"
    default_hint = "Send less per request (split batches), or upload files through the artifact API, which streams."


class Overloaded(ShipyardError):
    """The server cannot take the request now (busy, or the client sent too slowly); retry later."""

    http_status = 503
    error_code = "OVERLOADED"
    default_hint = "Retry after a short wait, with backoff."



class RateLimited(ShipyardError):
    """A caller sent more requests than its rate limit allows (``retry_after`` seconds until the next one)."""

    http_status = 429
    error_code = "RATE_LIMITED"
    default_hint = "Slow down: wait the Retry-After seconds, or ask for a higher limit."

    def __init__(self, *args: object, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(*args, hint=hint)
        self.retry_after = retry_after


__all__ = [
    "Overloaded",
    "RateLimited",
    "QuotaExceeded",
    "RequestTooLarge",
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
