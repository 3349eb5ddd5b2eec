"""The filter language: parser details, and a property test comparing the SQL compilation with an
independent Python evaluator over random filters (hypothesis)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.entities import Metric, Param, RunStatus, RunTag
from shipyard.exceptions import FilterSyntaxError
from shipyard.storage._filter import And, Compare, Field, Not, Or, parse_filter, parse_order_by
from shipyard.storage._sql import SqlStore


def test_precedence_and_grouping() -> None:
    tree = parse_filter("params.a = '1' or params.b = '2' and not params.c = '3'")
    assert isinstance(tree, Or)
    assert isinstance(tree.items[1], And) and isinstance(tree.items[1].items[1], Not)
    grouped = parse_filter("(params.a = '1' or params.b = '2') and params.c = '3'")
    assert isinstance(grouped, And) and isinstance(grouped.items[0], Or)


def test_literals_and_names() -> None:
    assert parse_filter("metrics.auc >= -1.5e-3") == Compare(Field("metrics", "auc"), ">=", -1.5e-3)
    assert parse_filter("params.n = 3") == Compare(Field("params", "n"), "=", 3)
    assert parse_filter("tags.`my tag` = 'it''s'") == Compare(Field("tags", "my tag"), "=", "it's")
    assert parse_filter('tags."a.b" == "x"') == Compare(Field("tags", "a.b"), "=", "x")
    assert parse_filter("params.model.depth <> '3'") == Compare(Field("params", "model.depth"), "!=", "3")
    assert parse_filter("metric.loss < 1") == Compare(Field("metrics", "loss"), "<", 1)
    assert parse_filter("run_name = 'x'") == Compare(Field("attributes", "run_name"), "=", "x")
    assert parse_filter("attr.id = 'x'") == Compare(Field("attributes", "run_id"), "=", "x")
    assert parse_filter("tags.t IN ('a', \"b\", 3)") == Compare(Field("tags", "t"), "in", ("a", "b", 3))
    assert parse_filter("TAGS.t is not null") == Compare(Field("tags", "t"), "is not null", None)
    assert parse_filter("params.flag = true") == Compare(Field("params", "flag"), "=", True)
    assert parse_filter("   ") is None and parse_filter(None) is None


def test_order_by() -> None:
    (a, b) = parse_order_by(["metrics.auc DESC", "start_time"])
    assert (a.field, a.descending, b.field, b.descending) == (Field("metrics", "auc"), True, Field("attributes", "start_time"), False)
    with pytest.raises(FilterSyntaxError, match="ASC, DESC"):
        parse_order_by(["metrics.auc DOWN"])


def test_error_points_at_the_token() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter("metrics.auc > 0.8 and params.model = lgbm")
    err = info.value
    assert err.position == len("metrics.auc > 0.8 and params.model = ")
    lines = str(err).splitlines()
    assert lines[1].strip() == "metrics.auc > 0.8 and params.model = lgbm"
    assert lines[2].index("^") - lines[1].index("m") == err.position
    with pytest.raises(FilterSyntaxError, match="Unexpected character '!'"):
        parse_filter("params.a = 1 !")


# -- property test: SQL versus an independent evaluator ---------------------------------------

MODELS = ["lgbm", "xgb", "rf", "LGBM", "lg_bm"]
TEAMS = ["ops", "ds", None]
LRS = ["0.1", "0.01", "1e-3", "auto", "3"]


def _population() -> list[dict[str, Any]]:
    runs = []
    for i in range(24):
        auc = None if i % 7 == 3 else (math.nan if i % 11 == 5 else round(0.5 + (i * 37 % 50) / 100, 3))
        runs.append(
            {
                "name": f"run-{i:02d}",
                "status": [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.RUNNING][i % 3],
                "params": {"model": MODELS[i % 5], **({"lr": LRS[i % 5]} if i % 4 else {})},
                "tags": {} if TEAMS[i % 3] is None else {"team": TEAMS[i % 3]},
                "metrics": {} if auc is None else {"auc": auc, "loss": round(1 - (i % 9) / 10, 2)},
            }
        )
    return runs


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[SqlStore, str, list[dict[str, Any]]]:
    path: Path = tmp_path_factory.mktemp("prop") / "prop.db"
    store = SqlStore(f"sqlite:///{path}")
    project = "prop"
    exp = store.create_experiment(project, "e").id
    runs = _population()
    for i, spec in enumerate(runs):
        rid = uuid.uuid4().hex
        store.create_run(project, exp, run_id=rid, name=spec["name"], start_time=1000 + i, artifact_uri="file:///x")
        store.log_batch(
            rid,
            metrics=[Metric(k, v, 0, 1) for k, v in spec["metrics"].items()],
            params=[Param(k, v) for k, v in spec["params"].items()],
            tags=[RunTag(k, v) for k, v in spec["tags"].items()],
        )
        if spec["status"] is not RunStatus.RUNNING:
            store.update_run(rid, status=spec["status"], end_time=2000)
    return store, project, runs


Pred = Callable[[dict[str, Any]], bool]


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _text_pred(table: str, key: str, op: str, lit: Any) -> tuple[str, Pred]:
    def get(r: dict[str, Any]) -> str | None:
        return r[table].get(key)

    if op in ("<", ">", "<=", ">="):
        def pred(r: dict[str, Any]) -> bool:
            v = get(r)
            n = None if v is None else _as_number(v)
            return n is not None and _cmp(n, op, float(lit))
        return f"{table}.{key} {op} {lit}", pred
    text = str(lit)
    def pred2(r: dict[str, Any]) -> bool:
        v = get(r)
        return v is not None and _cmp(v, op, text)
    rendered = f"'{text}'" if isinstance(lit, str) else str(lit)
    return f"{table}.{key} {op} {rendered}", pred2


def _cmp(a: Any, op: str, b: Any) -> bool:
    return {"=": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def _like(value: str, pattern: str, ci: bool) -> bool:
    import re

    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ci else re.DOTALL) is not None


@st.composite
def predicates(draw: st.DrawFn) -> tuple[str, Pred]:
    kind = draw(st.sampled_from(["param", "tag", "metric", "status", "null", "in", "like"]))
    if kind == "param":
        key = draw(st.sampled_from(["model", "lr"]))
        op = draw(st.sampled_from(["=", "!=", "<", ">", "<=", ">="]))
        if op in ("=", "!="):
            lit: Any = draw(st.sampled_from(MODELS + LRS + [3, 0.1]))
        else:
            lit = draw(st.sampled_from([0.001, 0.05, 0.1, 1, 3]))
        return _text_pred("params", key, op, lit)
    if kind == "tag":
        op = draw(st.sampled_from(["=", "!="]))
        return _text_pred("tags", "team", op, draw(st.sampled_from(["ops", "ds", "ml"])))
    if kind == "metric":
        key = draw(st.sampled_from(["auc", "loss"]))
        op = draw(st.sampled_from(["=", "!=", "<", ">", "<=", ">="]))
        lit = draw(st.sampled_from([0.5, 0.7, 0.75, 0.9, 1.0, 0.3]))
        def mpred(r: dict[str, Any]) -> bool:
            v = r["metrics"].get(key)
            return v is not None and not math.isnan(v) and _cmp(v, op, lit)
        return f"metrics.{key} {op} {lit}", mpred
    if kind == "status":
        op = draw(st.sampled_from(["=", "!="]))
        value = draw(st.sampled_from(["FINISHED", "failed", "RUNNING", "KILLED"]))
        return f"attributes.status {op} '{value}'", lambda r: _cmp(r["status"].value, op, value.upper())
    if kind == "null":
        table, key = draw(st.sampled_from([("params", "lr"), ("tags", "team"), ("metrics", "auc")]))
        negate = draw(st.booleans())
        text = f"{table}.{key} IS {'NOT ' if negate else ''}NULL"
        return text, lambda r: (key in r[table]) == negate
    if kind == "in":
        values = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=3))
        negate = draw(st.booleans())
        text = f"params.model {'NOT ' if negate else ''}IN ({', '.join(repr(v) for v in values)})"
        return text, lambda r: (r["params"]["model"] in values) != negate
    pattern = draw(st.sampled_from(["lg%", "%b%", "_gb", "LG%", "%", "x%"]))
    op = draw(st.sampled_from(["LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"]))
    ci = "ILIKE" in op
    negate = op.startswith("NOT")
    return f"params.model {op} '{pattern}'", lambda r: _like(r["params"]["model"], pattern, ci) != negate


def filters(depth: int = 3) -> st.SearchStrategy[tuple[str, Pred]]:
    def extend(children: st.SearchStrategy[tuple[str, Pred]]) -> st.SearchStrategy[tuple[str, Pred]]:
        def combine(parts: list[tuple[str, Pred]], word: str) -> tuple[str, Pred]:
            text = f" {word} ".join(f"({t})" for t, _ in parts)
            preds = [p for _, p in parts]
            if word == "and":
                return text, lambda r: all(p(r) for p in preds)
            return text, lambda r: any(p(r) for p in preds)

        def negate(part: tuple[str, Pred]) -> tuple[str, Pred]:
            text, pred = part
            return f"NOT ({text})", lambda r: not pred(r)

        return st.one_of(
            st.lists(children, min_size=2, max_size=3).map(lambda ps: combine(ps, "and")),
            st.lists(children, min_size=2, max_size=3).map(lambda ps: combine(ps, "or")),
            children.map(negate),
        )

    return st.recursive(predicates(), extend, max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=filters())
def test_sql_matches_reference_evaluator(populated: tuple[SqlStore, str, list[dict[str, Any]]], case: tuple[str, Pred]) -> None:
    store, project, runs = populated
    text, pred = case
    expected = sorted(r["name"] for r in runs if pred(r))
    got = sorted(r.name for r in store.search_runs(project, filter=text).runs)
    assert got == expected, text
