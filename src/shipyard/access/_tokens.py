"""API tokens: ``sy_<id>_<secret>``. Only ``sha256(salt + secret)`` is stored; the secret is shown
once, at creation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from shipyard._internal._time import now_ms
from shipyard.entities import ApiToken, Role
from shipyard.exceptions import AuthenticationError, InvalidParameter, NotFound, PermissionDenied
from shipyard.storage.base import AccessStore

PREFIX = "sy_"


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do: ``project=None`` means every project."""

    user: str
    role: Role
    project: str | None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.project is None and self.role is Role.ADMIN

    def can(self, project: str | None, needed: Role) -> bool:
        if self.project is not None and project != self.project:
            return False
        return self.role.allows(needed)

    def require(self, project: str | None, needed: Role) -> None:
        """Raises ``PermissionDenied`` unless allowed. Callers hide other projects' records as
        NotFound *before* this (no guessing across tenants)."""
        if not self.can(project, needed):
            scope = f"project {self.project!r}" if self.project else "every project"
            raise PermissionDenied(
                f"{self.user} has role {self.role.value} on {scope}; this needs {needed.value} on project {project!r}. "
                "Ask an admin for a token with that role (`shipyard token create`)."
            )


ANONYMOUS = Principal("anonymous", Role.ADMIN, None)


def issue_token(
    store: AccessStore, user: str, project: str | None, role: Role | str, expires_in_days: float | None = None,
    description: str | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the record and the secret string (shown once, never stored)."""
    role = Role(role)
    if project is None and role is not Role.ADMIN:
        raise InvalidParameter("A token for every project must be an admin token; give --project for other roles.")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    expires = now_ms() + int(expires_in_days * 86_400_000) if expires_in_days else None
    record = store.create_token(token_id=token_id, user=user, salt=salt, secret_hash=_hash(salt, secret),
                                project=project, role=role, expires_at=expires, description=description)
    return record, f"{PREFIX}{token_id}_{secret}"


def authenticate(store: AccessStore, token: str | None) -> Principal:
    """The principal of a bearer token.

    Raises:
        AuthenticationError: missing, malformed, unknown, revoked or expired token.
    """
    if not token:
        raise AuthenticationError("This server requires a token: set SHIPYARD_TOKEN (or send 'Authorization: Bearer …').")
    if not token.startswith(PREFIX) or token.count("_") < 2:
        raise AuthenticationError("Malformed token: Shipyard tokens look like sy_<id>_<secret>.")
    token_id, _, secret = token[len(PREFIX):].partition("_")
    try:
        record, salt, expected = store.get_token(token_id)
    except NotFound:
        raise AuthenticationError("Unknown token.") from None
    if not hmac.compare_digest(_hash(salt, secret), expected):
        raise AuthenticationError("Unknown token.")
    if record.revoked_at is not None:
        raise AuthenticationError(f"Token {token_id} was revoked.")
    if record.expires_at is not None and record.expires_at < now_ms():
        raise AuthenticationError(f"Token {token_id} has expired; ask an admin for a new one.")
    return Principal(record.user, record.role, record.project, token_id)


def bootstrap_admin(store: AccessStore, name: str = "admin") -> str | None:
    """On first start of an authenticated server: create an admin and return its token (print it
    once). ``None`` when users already exist."""
    if store.list_users():
        return None
    store.create_user(name, is_admin=True)
    _record, secret = issue_token(store, name, None, Role.ADMIN, description="bootstrap admin")
    return secret
