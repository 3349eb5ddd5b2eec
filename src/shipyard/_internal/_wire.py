"""The error model on the wire: ``{"error_code", "message", "hint"}`` back to the same exception."""

from __future__ import annotations

from typing import Any

from shipyard import exceptions as errors

BY_CODE: dict[str, type[errors.ShipyardError]] = {
    cls.error_code: cls
    for cls in (
        errors.ConfigError, errors.NotFound, errors.AlreadyExists, errors.InvalidParameter, errors.IntegrityError,
        errors.SchemaVersionError, errors.BackendUnavailable, errors.ContractViolation, errors.AuthenticationError,
        errors.PermissionDenied, errors.QuotaExceeded, errors.RequestTooLarge, errors.Overloaded, errors.RateLimited,
        errors.ShipyardError,
    )
}


def error_body(exc: errors.ShipyardError) -> dict[str, Any]:
    body: dict[str, Any] = {"error_code": exc.error_code, "message": str(exc), "hint": exc.hint}
    if isinstance(exc, errors.FilterSyntaxError):
        body.update(text=exc.text, position=exc.position)
    return body


def raise_for(status: int, body: Any, where: str) -> None:
    """Raise the Shipyard exception an error response describes."""
    if isinstance(body, dict) and "error_code" in body:
        code = body["error_code"]
        message = body.get("message", "")
        if code == errors.FilterSyntaxError.error_code:
            first = message.split("\n", 1)[0]
            raise errors.FilterSyntaxError(first, body.get("text", ""), int(body.get("position", 0)))
        raise BY_CODE.get(code, errors.ShipyardError)(message, hint=body.get("hint"))
    raise errors.BackendUnavailable(f"{where} answered HTTP {status}: {str(body)[:300]}")
