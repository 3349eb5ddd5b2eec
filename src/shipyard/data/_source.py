"""Data in, a DuckDB view out: DataFrames, Arrow tables, Parquet and CSV files; and the logical types.

Every source becomes the view ``__sy_data`` with one extra column, ``__sy_row`` (the row's position,
from 0), so checks that depend on row order and the samples of failing rows can name rows. Nothing
is copied for DataFrames, Arrow tables and Parquet files; a CSV file is parsed once into a temporary
table, so that the check query and the sample queries do not parse it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.exceptions import InvalidParameter, NotFound

if TYPE_CHECKING:
    import duckdb

DATA = "__sy_data"
VIEW = "__sy_t"
ROW = "__sy_row"

#: The logical types a schema speaks; anything else is kept as DuckDB spells it (e.g. ``integer[]``).
LOGICAL_TYPES = ("int", "float", "bool", "string", "timestamp", "date", "time")
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
         "UHUGEINT"}
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")


def logical_type(duck_type: str) -> str:
    """The schema's name for a DuckDB column type (a pandas category and a string are both ``string``)."""
    t = duck_type.upper()
    if t in _INTS:
        return "int"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t == "BOOLEAN":
        return "bool"
    if t == "VARCHAR" or t.startswith("ENUM"):
        return "string"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t == "DATE":
        return "date"
    if t.startswith("TIME"):
        return "time"
    return duck_type.lower()


def compatible(expected: str, actual: str) -> bool:
    """Whether data of logical type ``actual`` satisfies a schema column of type ``expected``
    (integers are acceptable floats; nothing else converts)."""
    return expected == actual or (expected == "float" and actual == "int")


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Source:
    """What was opened: column name → DuckDB type (in order, without the row column), and a label."""

    types: dict[str, str]
    label: str


def open_source(con: duckdb.DuckDBPyConnection, data: Any) -> Source:
    """Register ``data`` on ``con`` as the view ``__sy_data`` (its columns plus ``__sy_row``).

    Raises:
        NotFound: a path that does not exist.
        InvalidParameter: a type of data or a file format that cannot be read, or a file DuckDB cannot parse.
    """
    import duckdb

    if isinstance(data, (str, Path)):
        label = str(data)
        _open_file(con, Path(data))
    else:
        label = _register_object(con, data)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {DATA}").fetchall()
    except duckdb.Error as exc:
        raise InvalidParameter(f"Could not read {label}: {exc}", hint="Check that the file is complete and in the "
                               "format its name says.") from exc
    return Source({str(row[0]): str(row[1]) for row in described if row[0] != ROW}, label)


def _register_object(con: duckdb.DuckDBPyConnection, data: Any) -> str:
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        import numpy as np

        frame = data.rename(columns=str).assign(**{ROW: np.arange(len(data), dtype="int64")})
        con.register("__sy_frame", frame)
        label = f"DataFrame ({len(data):,} rows × {len(data.columns)} columns)"
    elif module == "pyarrow" and hasattr(data, "append_column"):
        import numpy as np
        import pyarrow as pa

        con.register("__sy_frame", data.append_column(ROW, pa.array(np.arange(data.num_rows, dtype="int64"))))
        label = f"Arrow table ({data.num_rows:,} rows × {data.num_columns} columns)"
    else:
        raise InvalidParameter(
            f"Cannot validate a {type(data).__name__}: expected a pandas DataFrame, a pyarrow Table, or the path "
            "of a Parquet or CSV file.", hint="Convert the data to a DataFrame or write it to Parquet first.")
    con.execute(f"CREATE TEMP VIEW {DATA} AS SELECT * FROM __sy_frame")
    return label


def _open_file(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    import duckdb

    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise NotFound(f"Data file {str(path)!r} {where} (looked in {Path.cwd()}).",
                       hint="Pass the path of a .parquet or .csv file.")
    name = path.name.lower()
    if name.endswith(_PARQUET):
        sql = (f"CREATE TEMP VIEW {DATA} AS SELECT * EXCLUDE (file_row_number), file_row_number AS {ROW} "
               f"FROM read_parquet({literal(str(path))}, file_row_number = true)")
    elif name.endswith(_CSV):
        sql = (f"CREATE TEMP TABLE __sy_csv AS SELECT * FROM read_csv({literal(str(path))}); "
               f"CREATE TEMP VIEW {DATA} AS SELECT *, rowid AS {ROW} FROM __sy_csv")
    else:
        raise InvalidParameter(f"Cannot read {str(path)!r}: the name should end in .parquet, .pq or .csv.",
                               hint="Rename the file to match its format, or load it yourself and pass a DataFrame.")
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise InvalidParameter(f"Could not read {str(path)!r}: {exc}",
                               hint="Check that the file is complete and in the format its name says.") from exc


def create_view(con: duckdb.DuckDBPyConnection, types: dict[str, str]) -> None:
    """The view the checks read, ``__sy_t``: the data with NaN read as missing."""
    floats = [quote(c) for c, t in types.items() if t.upper() in ("FLOAT", "DOUBLE", "REAL")]
    replace = ", ".join(f"CASE WHEN isnan({c}) THEN NULL ELSE {c} END AS {c}" for c in floats)
    select = "*" + (f" REPLACE ({replace})" if replace else "")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW} AS SELECT {select} FROM {DATA}")
