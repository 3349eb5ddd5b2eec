"""Compile the filter / order-by AST (:mod:`shipyard.storage._filter`) to SQL expressions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shipyard.exceptions import InvalidParameter
from shipyard.storage._filter import ATTRIBUTES, And, Compare, Node, Not, Or, OrderBy
from shipyard.storage._sql._schema import latest_metrics, params, runs, tags

_NUMERIC_RE = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


#: The current time (epoch ms) is a bound parameter, so that built statements can be cached.
NOW = sa.bindparam("now", type_=sa.BigInteger)


def effective_status() -> sa.ColumnElement[Any]:
    """``status``, except that a RUNNING run whose heartbeat is stale (at ``:now``) reads as KILLED."""
    stale = sa.and_(
        runs.c.status == "RUNNING",
        runs.c.heartbeat_at.is_not(None),
        runs.c.heartbeat_timeout_ms.is_not(None),
        runs.c.heartbeat_at + runs.c.heartbeat_timeout_ms < NOW,
    )
    return sa.case((stale, sa.literal("KILLED")), else_=runs.c.status)


class Compiler:
    """Turns AST nodes into SQLAlchemy boolean expressions over the ``runs`` table."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    # -- attributes ------------------------------------------------------------------------
    def attribute(self, key: str) -> sa.ColumnElement[Any]:
        columns: dict[str, sa.ColumnElement[Any]] = {
            "run_id": runs.c.id,
            "run_name": runs.c.name,
            "status": effective_status(),
            "user": runs.c.user,
            "host": runs.c.host,
            "start_time": runs.c.start_time,
            "end_time": runs.c.end_time,
            "duration": runs.c.end_time - runs.c.start_time,
            "experiment_id": runs.c.experiment_id,
            "parent_run_id": runs.c.parent_run_id,
            "git_commit": runs.c.git_commit,
            "artifact_uri": runs.c.artifact_uri,
        }
        return columns[key]

    def numeric_text(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """A text column as a number where it holds one, else NULL (never a cast error)."""
        operator = "~" if self.dialect == "postgresql" else "REGEXP"  # SQLite: registered per connection
        return sa.case((column.op(operator, is_comparison=True)(_NUMERIC_RE), sa.cast(column, sa.Double)), else_=None)

    # -- predicates ------------------------------------------------------------------------
    def compile(self, node: Node) -> sa.ColumnElement[bool]:
        if isinstance(node, And):
            return sa.and_(*(self.compile(n) for n in node.items))
        if isinstance(node, Or):
            return sa.or_(*(self.compile(n) for n in node.items))
        if isinstance(node, Not):
            return sa.not_(self.compile(node.item))
        return self._compare(node)

    def _compare(self, cmp: Compare) -> sa.ColumnElement[bool]:
        entity = cmp.field.entity
        if entity == "attributes":
            return self._attribute_compare(cmp)
        table = {"params": params, "tags": tags, "metrics": latest_metrics}[entity]
        keyed = sa.and_(table.c.run_id == runs.c.id, table.c.key == cmp.field.key)
        if cmp.op == "is null":
            return sa.not_(sa.exists().where(keyed))
        if cmp.op == "is not null":
            return sa.exists().where(keyed)
        if entity == "metrics":
            if cmp.op in ("like", "ilike", "not like", "not ilike"):
                raise InvalidParameter(
                    f"LIKE does not apply to metrics.{cmp.field.key}: metrics are numbers. Use =, <, > or IN."
                )
            cond = self._apply(table.c.value, cmp, numeric=True)
            return sa.exists().where(keyed, table.c.is_nan.is_(False), cond)
        column: sa.ColumnElement[Any] = table.c.value
        numeric = _numeric_literal(cmp) and cmp.op in ("<", "<=", ">", ">=")
        if numeric:
            column = self.numeric_text(column)
        return sa.exists().where(keyed, self._apply(column, cmp, numeric=numeric))

    def _attribute_compare(self, cmp: Compare) -> sa.ColumnElement[bool]:
        key = cmp.field.key
        column = self.attribute(key)
        numeric = ATTRIBUTES[key] == "num" or key == "experiment_id"
        if cmp.op == "is null":
            return column.is_(None)
        if cmp.op == "is not null":
            return column.is_not(None)
        if key == "status":
            cmp = _upper(cmp)
        return self._apply(column, cmp, numeric=numeric)

    def _apply(self, column: sa.ColumnElement[Any], cmp: Compare, numeric: bool) -> sa.ColumnElement[bool]:
        op, value = cmp.op, cmp.value
        where = f"{cmp.field.entity}.{cmp.field.key}"
        if op in ("in", "not in"):
            assert isinstance(value, tuple)
            items = [_coerce(v, numeric, where) for v in value]
            member: sa.ColumnElement[bool] = column.in_(items)
            return sa.not_(member) if op == "not in" else member
        if op in ("like", "not like", "ilike", "not ilike"):
            if numeric:
                raise InvalidParameter(f"LIKE does not apply to {where}: it is a number. Use =, <, > or IN.")
            assert isinstance(value, str)
            expr: sa.ColumnElement[bool]
            if "ilike" in op:
                expr = sa.func.lower(column).like(value.lower())
            else:
                expr = column.like(value) if self.dialect != "sqlite" else _sqlite_case_sensitive_like(column, value)
            return sa.not_(expr) if op.startswith("not") else expr
        literal = _coerce(value, numeric, where)
        ops = {
            "=": column.__eq__,
            "!=": column.__ne__,
            "<": column.__lt__,
            "<=": column.__le__,
            ">": column.__gt__,
            ">=": column.__ge__,
        }
        return ops[op](literal)  # type: ignore[no-any-return]

    # -- ordering --------------------------------------------------------------------------
    def order_clause(self, order: OrderBy) -> sa.ColumnElement[Any]:
        entity, key = order.field.entity, order.field.key
        if entity == "attributes":
            expr: sa.ColumnElement[Any] = self.attribute(key)
        elif entity == "metrics":
            expr = (
                sa.select(sa.case((latest_metrics.c.is_nan.is_(True), None), else_=latest_metrics.c.value))
                .where(latest_metrics.c.run_id == runs.c.id, latest_metrics.c.key == key)
                .scalar_subquery()
            )
        else:
            table = params if entity == "params" else tags
            expr = (
                sa.select(table.c.value).where(table.c.run_id == runs.c.id, table.c.key == key).scalar_subquery()
            )
        ordered = expr.desc() if order.descending else expr.asc()
        return ordered.nulls_last()


def _numeric_literal(cmp: Compare) -> bool:
    values = cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _upper(cmp: Compare) -> Compare:
    value = cmp.value
    if isinstance(value, tuple):
        value = tuple(v.upper() if isinstance(v, str) else v for v in value)
    elif isinstance(value, str) and cmp.op in ("=", "!="):
        value = value.upper()
    return Compare(cmp.field, cmp.op, value)


def _coerce(value: Any, numeric: bool, where: str) -> Any:
    if numeric:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                return float(value)
            except (TypeError, ValueError):
                raise InvalidParameter(
                    f"{where} is numeric but the filter compares it with {value!r}. Use a number, e.g. {where} > 0.5"
                ) from None
        return value
    if isinstance(value, bool):
        return str(value)  # params and tags hold str(True) == "True"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _sqlite_case_sensitive_like(column: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[bool]:
    """SQLite's LIKE ignores case; GLOB does not. Translate % and _ to * and ?, escaping GLOB specials."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return column.op("GLOB", is_comparison=True)("".join(out))  # type: ignore[no-any-return]
