"""Training sets: entity rows joined point-in-time to applied feature views, out of core in DuckDB.

``training_set(entity_df, features=[...])`` reads each view's source in place (Parquet, CSV, SQL),
builds one query (:func:`shipyard.features._pit.pit_query`, after a narrow match per view) and returns a :class:`TrainingSet`; the
result is recorded as a dataset (content hash, the feature views and their versions) and, inside an
active run, linked to it as an input — so lineage reaches from a model version back to the feature
definitions. Without entity rows, ``training_set(features=..., start=..., end=...)`` retrieves every
entity's values as of each event time (or each ``every`` step) in the range.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import parse_duration, parse_when
from shipyard.config import get_settings
from shipyard.data._source import literal, quote
from shipyard.entities import Dataset
from shipyard.exceptions import InvalidParameter, ShipyardError
from shipyard.features._definitions import (
    AGGREGATES,
    COUNTS,
    FeatureView,
    OnDemandFeatureView,
    Source,
)
from shipyard.features._pit import (
    CREATED,
    INTEGERS,
    ORDER,
    ROW,
    TS,
    AggregateInput,
    ViewInput,
    arrow_batches,
    connect,
    interval,
    pit_query,
    utc,
)
from shipyard.features._registry import Selected, resolve, visible_columns
from shipyard.workspace import current_workspace

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

ENTITIES = "__sy_entities"
#: The SQL type of each declared feature type: training sets carry the declared types, whatever the source's.
SQL_TYPES = {"float": "DOUBLE", "int": "BIGINT", "string": "VARCHAR", "bool": "BOOLEAN", "timestamp": "TIMESTAMPTZ"}


def source_relation(con: duckdb.DuckDBPyConnection, view: FeatureView, columns: Sequence[str]) -> str:
    """The view's source as ``(SELECT keys, __sy_ts, [__sy_created, __sy_order], columns ...)``, times as
    TIMESTAMPTZ (UTC)."""
    src: Source = view.source
    try:
        relation = src.relation(con)
        described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except ShipyardError:
        raise
    except Exception as exc:  # noqa: BLE001 - DuckDB raises many kinds; all mean "cannot read the source"
        raise InvalidParameter(f"Cannot read the source of feature view {view.name!r} ({src.spec()}): {exc}") from exc
    have = {row[0] for row in described}
    needed = [*view.join_keys, src.timestamp, *([src.created] if src.created else []), *columns]
    missing = [c for c in dict.fromkeys(needed) if c not in have]
    if missing:
        raise InvalidParameter(f"The source of feature view {view.name!r} has no column(s) {missing}; it has "
                               f"{sorted(have)}. Fix the view's definition or its data.")
    parts = [*(quote(k) for k in view.join_keys), f"CAST({quote(src.timestamp)} AS TIMESTAMPTZ) AS {TS}"]
    if src.created:
        parts.append(f"CAST({quote(src.created)} AS TIMESTAMPTZ) AS {CREATED}")
    order = _order_expression(src)
    if order:
        parts.append(f"{order} AS {ORDER}")
    parts += [quote(c) for c in dict.fromkeys(columns) if c not in view.join_keys]
    if order and src.type == "parquet":
        wanted = ("filename = true, " if "filename" in order else "") + "file_row_number = true"
        relation = relation.replace("union_by_name = true)", f"union_by_name = true, {wanted})")
    return f"(SELECT {', '.join(parts)} FROM {relation})"


def _order_expression(src: Source) -> str | None:
    """Source order for exact duplicates (Parquet: file name, then row in the file — the row alone for
    one file); None elsewhere."""
    if src.type != "parquet":
        return None
    path = str(getattr(src, "path", ""))
    return "file_row_number" if not _glob(path) else "struct_pack(f := filename, r := file_row_number)"


def _order_type(src: Source) -> str | None:
    """The SQL type of :func:`_order_expression`."""
    if src.type != "parquet":
        return None
    return "BIGINT" if not _glob(str(getattr(src, "path", ""))) else "STRUCT(f VARCHAR, r BIGINT)"


def _glob(path: str) -> bool:
    """Whether the path names several files: a glob, or a directory (DuckDB reads every file in it)."""
    return any(ch in path for ch in "*?[") or Path(path).is_dir()


def view_input(con: duckdb.DuckDBPyConnection, sel: Selected) -> ViewInput | AggregateInput:
    view = sel.view
    assert isinstance(view, FeatureView)
    if view.aggregations:
        by_name = {a.feature: a for a in view.aggregations}
        chosen = [by_name[f] for f in sel.features]
        relation = source_relation(con, view, [a.column for a in chosen])
        return AggregateInput(relation, view.join_keys, [
            (AGGREGATES[a.function], a.column, a.window_ms * 1000, out, a.function in COUNTS)
            for a, out in zip(chosen, sel.outputs, strict=True)])
    relation = source_relation(con, view, sel.features)
    ttl = view.ttl_ms
    declared = view.feature_types
    return ViewInput(relation, view.join_keys, list(zip(sel.features, sel.outputs, strict=True)),
                     ttl * 1000 if ttl else None, created=bool(view.source.created), order=_order_type(view.source),
                     types=[SQL_TYPES.get(declared[f]) for f in sel.features])


@dataclass
class TrainingSet:
    """The result of :func:`training_set`: the joined rows (``df``, or a Parquet file at ``path`` for
    out-of-core runs), the feature views used with their versions, and the dataset record."""

    features: list[str]
    views: dict[str, int]
    dataset: Dataset | None
    df: pd.DataFrame | None = None
    path: Path | None = None

    def to_pandas(self) -> pd.DataFrame:
        if self.df is not None:
            return self.df
        import pandas as pd

        assert self.path is not None
        return pd.read_parquet(self.path)

    def __len__(self) -> int:
        if self.df is not None:
            return len(self.df)
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(self.path).metadata.num_rows) if self.path else 0


#: DuckDB's memory cap for feature work unless a call names one: past it, joins spill to disk.
MEMORY_LIMIT = "1GB"


def spill_directory() -> str:
    """Where DuckDB spills (under the Shipyard home)."""
    tmp = Path(get_settings().home).expanduser() / "tmp" / "duckdb"
    tmp.mkdir(parents=True, exist_ok=True)
    return str(tmp)


def _register_entities(con: duckdb.DuckDBPyConnection, entity_df: Any, entity_timestamp: str,
                       selected: Sequence[Selected]) -> tuple[list[str], pd.DataFrame | None]:
    """Register the entity rows as ``__sy_entities`` (with ``__sy_row``); returns their columns and, for a
    DataFrame, the frame registered (its timestamps in UTC)."""
    import pandas as pd

    keys = list(dict.fromkeys(k for s in selected if isinstance(s.view, FeatureView) for k in s.view.join_keys))
    frame = None
    if isinstance(entity_df, (str, Path)):
        path = str(entity_df)
        if not path.endswith((".parquet", ".pq")) and "*" not in path:
            raise InvalidParameter(f"Entity rows from a file must be Parquet, got {path!r}.")
        raw = f"read_parquet({literal(path)}, filename = true, file_row_number = true)"
        try:
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()]
        except Exception as exc:  # noqa: BLE001 - DuckDB's I/O errors
            raise InvalidParameter(f"Cannot read the entity rows {path!r}: {exc}") from exc
        extra = [c for c in columns if c in ("filename", "file_row_number") or c.startswith("__index_level_")]
        columns = [c for c in columns if c not in extra]
        if entity_timestamp in columns:
            # each row's place: its file's offset (files in name order) plus its row in the file — no sort
            con.execute(f"CREATE TEMP TABLE {ENTITIES}_files AS SELECT file_name AS f, coalesce(sum(num_rows) OVER "
                        f"(ORDER BY file_name ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS o "
                        f"FROM parquet_file_metadata({literal(path)})")
            con.execute(f"CREATE TEMP VIEW {ENTITIES}_v AS SELECT r.* EXCLUDE ({', '.join(quote(c) for c in extra)}) "
                        f"REPLACE (CAST(r.{quote(entity_timestamp)} AS TIMESTAMPTZ) AS {quote(entity_timestamp)}), "
                        f"x.o + r.file_row_number AS {ROW} FROM {raw} r JOIN {ENTITIES}_files x ON x.f = r.filename")
    elif isinstance(entity_df, pd.DataFrame):
        frame = entity_df.assign(**{entity_timestamp: utc(entity_df, entity_timestamp, "entity rows"),
                                    ROW: range(len(entity_df))})
        con.register(f"{ENTITIES}_v", frame)
        columns = [str(c) for c in entity_df.columns]
    else:
        raise InvalidParameter(f"entity_df must be a pandas DataFrame or a Parquet path, got {type(entity_df).__name__}.")
    if entity_timestamp not in columns:
        raise InvalidParameter(f"The entity rows have no timestamp column {entity_timestamp!r}; they have {columns}. "
                               "Pass entity_timestamp= to name it.")
    missing = [k for k in keys if k not in columns]
    if missing:
        raise InvalidParameter(f"The entity rows lack the join key(s) {missing} of the requested views; they have "
                               f"{columns}.")
    return columns, frame


def _range_entities(con: duckdb.DuckDBPyConnection, selected: Sequence[Selected], start: int, end: int,
                    every: int | None, entity_timestamp: str) -> list[str]:
    """Entity rows for a range retrieval: every key of the views, at each event time in [start, end]
    (or at each ``every`` step)."""
    plain = [s for s in selected if isinstance(s.view, FeatureView)]
    keysets = {tuple(s.view.join_keys) for s in plain}  # type: ignore[union-attr]
    if len(keysets) != 1:
        raise InvalidParameter("A range retrieval needs views that share the same join keys; these have "
                               f"{sorted(keysets)}. Give entity rows instead.")
    keys = list(next(iter(keysets)))
    lo, hi = f"make_timestamptz({start * 1000})", f"make_timestamptz({end * 1000})"
    key_list = ", ".join(quote(k) for k in keys)
    parts = []
    for s in plain:
        assert isinstance(s.view, FeatureView)
        rel = source_relation(con, s.view, [])
        if every:
            parts.append(f"SELECT DISTINCT {key_list} FROM {rel} WHERE {TS} <= {hi}")
        else:
            parts.append(f"SELECT DISTINCT {key_list}, {TS} AS {quote(entity_timestamp)} FROM {rel} "
                         f"WHERE {TS} >= {lo} AND {TS} <= {hi}")
    union = " UNION ".join(parts)
    if every:
        grid = f"SELECT unnest(generate_series({lo}, {hi}, {interval(every * 1000)})) AS {quote(entity_timestamp)}"
        union = f"SELECT k.*, g.* FROM ({union}) k CROSS JOIN ({grid}) g"
    con.execute(f"CREATE TEMP TABLE {ENTITIES}_v AS SELECT *, row_number() OVER (ORDER BY {quote(entity_timestamp)}, "
                f"{key_list}) AS {ROW} FROM ({union})")
    return [*keys, entity_timestamp]


def training_set(
    entity_df: pd.DataFrame | str | Path | None = None, features: Sequence[str] = (), *,
    entity_timestamp: str = "event_timestamp", start: Any = None, end: Any = None, every: str | None = None,
    full_names: bool = False, name: str = "training-set", output: str | Path | None = None, log: bool = True,
    memory_limit: str | None = None, project: str | None = None,
) -> TrainingSet:
    """Join each entity row to the latest values of ``features`` at or before its timestamp.

    Args:
        entity_df: the entity rows: a DataFrame or a Parquet file (read out of core); their join-key
            columns and ``entity_timestamp``. Leave it out for a range retrieval (``start``/``end``).
        features: ``"view:feature"`` references (``"view:*"`` for all of a view's features),
            including on-demand views, which are computed on the joined rows.
        start, end, every: a range retrieval: every entity of the views at each event time in
            ``[start, end]``, or at each step of ``every`` (e.g. ``"1h"``).
        full_names: name the columns ``view__feature`` (needed when two views share a feature name).
        name: the dataset record's name.
        output: write the result to this Parquet file instead of memory (for results larger than memory).
        log: record the dataset (and link it to the active run, if any).
        memory_limit: DuckDB's memory cap for the join (default ``MEMORY_LIMIT``); it spills past it.

    Raises:
        NotFound: a feature view is not applied. InvalidParameter: bad references, missing columns.
    """
    project = project or get_settings().project
    selected = resolve(features, project=project, full_names=full_names)
    wanted = visible_columns(features, selected, full_names)
    con = connect(memory_limit or MEMORY_LIMIT, spill_directory())
    try:
        if entity_df is None:
            if start is None or end is None:
                raise InvalidParameter("training_set() needs entity rows, or start= and end= for a range retrieval.")
            step = parse_duration(every, "every") if every else None
            columns, given = _range_entities(con, selected, parse_when(start), parse_when(end), step,
                                             entity_timestamp), None
        else:
            columns, given = _register_entities(con, entity_df, entity_timestamp, selected)
        clash = [c for s in selected for c in s.outputs if c in columns]
        if clash:
            raise InvalidParameter(f"The entity rows already have columns {clash}: drop them or pass full_names=True.")
        inputs = [view_input(con, s) for s in selected if isinstance(s.view, FeatureView)]
        demand = [s for s in selected if isinstance(s.view, OnDemandFeatureView)]
        hidden = [o for s in selected for o in s.outputs if o not in wanted]
        by_ref = {f"{s.view.name}:{f}": o for s in selected for f, o in zip(s.features, s.outputs, strict=True)}
        computed = {o for s in demand for o in s.outputs}
        order = [quote(c) for c in columns] + [quote(c) for c in wanted if c not in computed] + \
            [quote(o) for o in hidden if o not in computed]
        try:
            rows = _check_key_types(con, f"{ENTITIES}_v", selected, inputs)
            query = pit_query(con, f"{ENTITIES}_v", entity_timestamp, inputs, fetch=rows)
            limit = "" if rows else " LIMIT 0"  # typed empty result; an empty frame's keys have no type to join on
            if output is not None:  # the entity columns, then the features as asked
                final = f"SELECT {', '.join(order)} FROM ({query}){limit}"
                path = _write_parquet(con, final, Path(output), demand, hidden, by_ref)
                result = TrainingSet(wanted, {s.view.name: s.version for s in selected}, None, path=path)
            else:
                frame = _fetch_frame(con, f"({query}){limit}", order[len(columns):], columns, given)
                frame = _on_demand(frame, demand, by_ref).drop(columns=hidden)
                frame = frame[[*columns, *wanted]]
                if entity_df is not None and not isinstance(entity_df, (str, Path)):
                    frame.index = entity_df.index
                result = TrainingSet(wanted, {s.view.name: s.version for s in selected}, None, df=frame)
        except InvalidParameter:
            raise
        except Exception as exc:  # noqa: BLE001 - DuckDB's errors (type mismatches of keys, ...)
            raise InvalidParameter(f"The training-set query failed: {exc}. Check that the entity rows' join keys "
                                   "have the same types as the sources' (e.g. both strings).") from exc
    finally:
        con.close()
    if log:
        result.dataset = _record(result, name, project)
    return result


def _fetch_frame(con: duckdb.DuckDBPyConnection, relation: str, features: Sequence[str], columns: Sequence[str],
                 given: pd.DataFrame | None) -> pd.DataFrame:
    """The joined rows as a DataFrame: the entity columns then ``features`` (quoted). Entity rows given
    as a DataFrame keep their own columns (and dtypes); DuckDB returns the features only."""
    if given is None:
        return con.execute(f"SELECT {', '.join([*(quote(c) for c in columns), *features])} FROM {relation}").df()
    import pandas as pd

    got = con.execute(f"SELECT {', '.join(features) or ROW} FROM {relation}").df()
    got = got.drop(columns=[ROW]) if not features else got
    # the caller's columns come first in ``given``, by position: their labels need not be strings
    mine = given.iloc[:, :len(columns)].set_axis(list(columns), axis=1).reset_index(drop=True)
    return pd.concat([mine, got], axis=1)


_NUMBERS = (*INTEGERS, "FLOAT", "DOUBLE", "DECIMAL")


def _key_family(duck_type: str) -> str | None:
    kind = duck_type.upper()
    return "number" if kind.startswith(_NUMBERS) else "string" if kind.startswith(("VARCHAR", "ENUM")) else None


def _check_key_types(con: duckdb.DuckDBPyConnection, entities: str, selected: Sequence[Selected],
                     inputs: Sequence[ViewInput | AggregateInput]) -> bool:
    """Refuse a join key that is a string on one side and a number on the other (a join would fail, a
    window aggregation would silently match nothing). False when there are no entity rows."""
    if con.execute(f"SELECT 1 FROM {entities} LIMIT 1").fetchone() is None:
        return False  # no entity rows: an empty frame's columns have no meaningful type
    have = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {entities}").fetchall()}
    plain = [s for s in selected if isinstance(s.view, FeatureView)]
    for sel, view in zip(plain, inputs, strict=True):
        source = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {view.relation}").fetchall()}
        for key in view.keys:
            families = {_key_family(have[key]), _key_family(source[key])}
            if families == {"number", "string"}:
                raise InvalidParameter(f"Join key {key!r} is {have[key]} in the entity rows but {source[key]} in the "
                                       f"source of feature view {sel.view.name!r}: give both the same type (e.g. "
                                       "convert the entity rows' column with .astype(str) or .astype(int)).")
    return True


def _on_demand(frame: pd.DataFrame, demand: Sequence[Selected], columns: Mapping[str, str]) -> pd.DataFrame:
    """Compute the on-demand views on ``frame``; ``columns``: each ``view:feature`` → its column there."""
    for sel in demand:
        view = sel.view
        assert isinstance(view, OnDemandFeatureView)
        inputs = frame.rename(columns={columns[ref]: ref for ref in view.inputs})
        computed = view.apply(inputs)
        for feature, out in zip(sel.features, sel.outputs, strict=True):
            frame[out] = computed[feature].to_numpy()
    return frame


def _write_parquet(con: duckdb.DuckDBPyConnection, query: str, target: Path, demand: Sequence[Selected],
                   hidden: Sequence[str], columns: Mapping[str, str]) -> Path:
    """Stream the result into ``target`` (atomically: a temporary file renamed at the end)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if not demand and not hidden:
            con.execute(f"COPY ({query}) TO {literal(str(tmp))} (FORMAT parquet)")
        else:
            reader = arrow_batches(con, query, 200_000)
            writer = None
            try:
                for batch in reader:
                    frame = _on_demand(batch.to_pandas(), demand, columns).drop(columns=list(hidden))
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    writer = writer or pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _record(result: TrainingSet, name: str, project: str) -> Dataset:
    """The dataset record of a training set (content hash, views and versions), linked to the active run."""
    from shipyard.tracking import _fluent
    from shipyard.tracking._datasets import fingerprint

    if result.df is not None:
        digest, schema, profile = fingerprint(result.df)
        rows = len(result.df)
    else:
        assert result.path is not None
        sha = hashlib.sha256()
        with open(result.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
        digest, rows = sha.hexdigest(), len(result)
        import pyarrow.parquet as pq

        schema = {"columns": [{"name": f.name, "dtype": str(f.type)} for f in pq.read_schema(result.path)]}
        profile = {"num_rows": rows}
    profile = {**profile, "features": {"refs": result.features, "views": result.views}}
    source = "features:" + ",".join(f"{v}@v{n}" for v, n in sorted(result.views.items()))
    store = current_workspace().metadata
    dataset = store.log_dataset(project, name=name, digest=digest, num_rows=rows, schema=schema, profile=profile,
                                source=source)
    run = _fluent.active_run()
    if run is not None:
        store.link_dataset(run.id, dataset.id, "training", "input")
    return dataset


def feature_lineage(dataset: Dataset) -> dict[str, int]:
    """The feature views (and versions) a training-set dataset was built from."""
    features = dict(dataset.profile).get("features") or {}
    return {str(k): int(v) for k, v in dict(features.get("views") or {}).items()}

