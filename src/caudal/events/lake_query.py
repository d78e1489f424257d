"""DuckDB over the lake: a view `events` over every file, and one view per source and type
(`frontend.click_button_help`, `backend."selfie-uploaded"`, also `backend.selfie_uploaded`)."""

from __future__ import annotations

import re
from typing import Any

import duckdb

from caudal.events.lake_files import SCHEMA, LakeFiles

_EMPTY_EVENTS = (
    "CREATE VIEW events AS SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS source, "
    "NULL::VARCHAR AS type, NULL::VARCHAR AS version, NULL::TIMESTAMPTZ AS occurred_at, "
    "NULL::TIMESTAMPTZ AS received_at, NULL::VARCHAR AS trace_key, NULL::VARCHAR AS platform, "
    "NULL::VARCHAR AS device_id, NULL::VARCHAR AS data, NULL::DATE AS dt WHERE false"
)
assert len(SCHEMA) == 10  # the empty view above lists the contract's columns


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _scan(glob: str) -> str:
    return f"read_parquet({_literal(glob)}, hive_partitioning = true, union_by_name = true)"


def connect(files: LakeFiles) -> Any:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if files.local:
        base = files.root
    else:
        con.register_filesystem(files.fs)
        base = files.url
    parts = files.parts()
    if not parts:
        con.execute(_EMPTY_EVENTS)
        return con
    con.execute(f"CREATE VIEW events AS SELECT * FROM {_scan(base + '/*/*/dt=*/*.parquet')}")
    pairs = sorted({tuple(directory.split("/")[:2]) for directory in parts})
    for source, type_ in pairs:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(source)}")
        scan = _scan(f"{base}/{source}/{type_}/dt=*/*.parquet")
        names = {type_, re.sub(r"\W", "_", type_)}
        for name in sorted(names):
            con.execute(
                f"CREATE OR REPLACE VIEW {_ident(source)}.{_ident(name)} AS SELECT * FROM {scan}"
            )
    return con


def query(files: LakeFiles, statement: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    con = connect(files)
    try:
        relation = con.sql(statement)
        if relation is None:  # a statement without a result set
            return [], []
        # Through Arrow: timestamptz values convert without DuckDB's optional pytz dependency.
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        table = fetch()
        columns = list(table.column_names)
        return columns, [tuple(row.values()) for row in table.to_pylist()]
    finally:
        con.close()
