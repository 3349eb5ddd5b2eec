"""The access half of ``SqlStore``: users, token hashes, audit log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shipyard._internal._time import now_ms
from shipyard.entities import ApiToken, AuditEvent, Quota, Role, User
from shipyard.entities._tracking import frozen_map
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound, QuotaExceeded
from shipyard.storage._sql._schema import api_tokens, audit_events, project_quotas, users
from shipyard.storage.base import AccessStore, QuotaStore


class SqlAccessMixin(AccessStore, QuotaStore):
    if TYPE_CHECKING:  # provided by SqlStore

        def _tx(self, write: bool = False) -> Any: ...

        def _insert(self, table: sa.Table) -> Any: ...

    dialect: str

    @property
    def _sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def create_user(self, name: str, is_admin: bool = False) -> User:
        now = now_ms()
        with self._tx(write=True) as conn:
            row = conn.execute(
                self._insert(users).values(name=name, is_admin=is_admin, created_at=now).on_conflict_do_nothing()
                .returning(users.c.id)
            ).first()
            if row is None:
                raise AlreadyExists(f"User {name!r} already exists.")
        return User(row.id, name, is_admin, now)

    def get_user(self, name: str) -> User:
        with self._tx() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFound(f"No user {name!r}. List users with `shipyard users list`.")
        return User(row.id, row.name, row.is_admin, row.created_at)

    def list_users(self) -> list[User]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [User(r.id, r.name, r.is_admin, r.created_at) for r in rows]

    def create_token(
        self, *, token_id: str, user: str, salt: str, secret_hash: str, project: str | None, role: Role,
        expires_at: int | None = None, description: str | None = None,
    ) -> ApiToken:
        now = now_ms()
        with self._tx(write=True) as conn:
            uid = conn.execute(sa.select(users.c.id).where(users.c.name == user)).scalar()
            if uid is None:
                raise NotFound(f"No user {user!r}: create it first (`shipyard users create {user}`).")
            inserted = conn.execute(self._insert(api_tokens).values(
                id=token_id, user_id=uid, salt=salt, secret_hash=secret_hash, project=project, role=Role(role).value,
                description=description, created_at=now, expires_at=expires_at,
            ).on_conflict_do_nothing().returning(api_tokens.c.id)).first()
            if inserted is None:
                raise AlreadyExists(
                    f"A token with id {token_id!r} already exists: token ids are unique. Create tokens with "
                    "`shipyard token create` or issue_token(), which pick a fresh id."
                )
        return ApiToken(token_id, user, project, Role(role), now, expires_at, None, description)

    def _token_query(self) -> sa.Select[Any]:
        return sa.select(api_tokens, users.c.name.label("user_name")).join(users, users.c.id == api_tokens.c.user_id)

    def get_token(self, token_id: str) -> tuple[ApiToken, str, str]:
        with self._tx() as conn:
            row = conn.execute(self._token_query().where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound(f"No token {token_id!r}.")
        return _token(row), row.salt, row.secret_hash

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        query = self._token_query().order_by(api_tokens.c.created_at.desc())
        if user is not None:
            query = query.where(users.c.name == user)
        with self._tx() as conn:
            return [_token(r) for r in conn.execute(query).all()]

    def revoke_token(self, token_id: str) -> ApiToken:
        with self._tx(write=True) as conn:
            done = conn.execute(api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                                .values(revoked_at=now_ms()))
            if done.rowcount == 0 and conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.id == token_id)).first() is None:
                raise NotFound(f"No token {token_id!r}.")
        return self.get_token(token_id)[0]

    def append_audit(
        self, *, actor: str | None, action: str, project: str | None, target: str | None, status: int,
        remote_addr: str | None, detail: Mapping[str, Any] | None = None,
    ) -> None:
        with self._tx(write=True) as conn:
            conn.execute(audit_events.insert().values(
                at=now_ms(), actor=actor, action=action, project=project, target=(target or "")[:1000] or None,
                status=status, remote_addr=remote_addr, detail=json.dumps(dict(detail or {}), default=str),
            ))

    def search_audit(
        self, *, actor: str | None = None, action: str | None = None, project: str | None = None,
        since: int | None = None, limit: int = 100, before_id: int | None = None,
    ) -> list[AuditEvent]:
        query = sa.select(audit_events).order_by(audit_events.c.id.desc()).limit(min(max(limit, 1), 10_000))
        if actor is not None:
            query = query.where(audit_events.c.actor == actor)
        if action is not None:
            query = query.where(audit_events.c.action == action)
        if project is not None:
            query = query.where(audit_events.c.project == project)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if before_id is not None:
            query = query.where(audit_events.c.id < before_id)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [AuditEvent(r.id, r.at, r.actor, r.action, r.project, r.target, r.status, r.remote_addr,
                           frozen_map(json.loads(r.detail) if r.detail else None)) for r in rows]

    # -- quotas ------------------------------------------------------------------------------
    def _quota_row(self, conn: sa.Connection, project: str, kind: str) -> Any:
        conn.execute(self._insert(project_quotas).values(project=project, kind=kind, max_value=None, used=0)
                     .on_conflict_do_nothing())
        return conn.execute(sa.select(project_quotas).where(_QC.project == project, _QC.kind == kind)).one()

    def set_quota(self, project: str, kind: str, limit: int | None) -> Quota:
        if limit is not None and limit < 0:
            raise InvalidParameter(f"A quota limit is a count of at least 0 (or none), got {limit}.")
        with self._tx(write=True) as conn:
            self._quota_row(conn, project, kind)
            conn.execute(project_quotas.update().where(_QC.project == project, _QC.kind == kind).values(max_value=limit))
            return _quota(self._quota_row(conn, project, kind))

    def list_quotas(self, project: str | None = None) -> list[Quota]:
        query = sa.select(project_quotas).order_by(_QC.project, _QC.kind)
        if project is not None:
            query = query.where(_QC.project == project)
        with self._tx() as conn:
            return [_quota(r) for r in conn.execute(query).all()]

    def charge_quota(self, project: str, kind: str, amount: int) -> Quota:
        with self._tx(write=True) as conn:
            row = self._quota_row(conn, project, kind)
            if amount > 0 and row.max_value is not None and row.used + amount > row.max_value:
                raise QuotaExceeded(
                    f"Project {project!r} would exceed its {kind} quota: {row.used} used + {amount} "
                    f"> limit {row.max_value}."
                )
            conn.execute(project_quotas.update().where(_QC.project == project, _QC.kind == kind)
                         .values(used=sa.func.max(_QC.used + amount, 0) if self._sqlite else sa.func.greatest(_QC.used + amount, 0)))
            return _quota(self._quota_row(conn, project, kind))


_QC = project_quotas.c


def _quota(row: Any) -> Quota:
    return Quota(row.project, row.kind, row.max_value, row.used)


def _token(row: Any) -> ApiToken:
    return ApiToken(row.id, row.user_name, row.project, Role(row.role), row.created_at, row.expires_at,
                    row.revoked_at, row.description)
