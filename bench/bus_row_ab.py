"""PostgreSQL backend CPU per bus row, for variants of `bus.messages` side by side on one server:
payloads as `jsonb` (read with `jsonb_array_elements`, bus migrations 0001-0003) or `json` (read
with `json_to_recordset`, migration 0004), with or without the kind columns of migration 0005,
with and without the `published_at` index. Each batch of canonical frontend events is published
to every variant in turn (interleaved, so the neighbours' load falls on all alike), then every
row is read back as the fetch reads it (`payload::text`, `headers::text`, ...). CPU from
`/proc/<backend pid>/schedstat`, so run it on this machine's server, e.g. the throwaway one of
bench/profiles/README.md:

    .venv/bin/python bench/bus_row_ab.py --database-url postgresql://postgres@127.0.0.1:55432/ab
"""

from __future__ import annotations

import argparse
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

_ARRAY_ROWS = """WITH ins AS (
    INSERT INTO {t} (topic, key, partition, message_id, payload, headers)
    SELECT r->>0, r->>1, (r->>2)::int, r->>3, r->4, r->5
    FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS t(r, n)
    ORDER BY n ON CONFLICT (message_id) DO NOTHING RETURNING topic)
SELECT pg_notify('bus_row_ab', topic) FROM (SELECT DISTINCT topic FROM ins) AS t"""
_OBJECT_ROWS = """WITH ins AS (
    INSERT INTO {t} (topic, key, partition, message_id, payload, headers)
    SELECT r.topic, r.key, r.partition, r.id, r.payload, r.headers
    FROM ROWS FROM (json_to_recordset(%(rows)s::json)
         AS (topic text, key text, partition int, id text, payload json, headers json))
         WITH ORDINALITY AS r(topic, key, partition, id, payload, headers, n)
    ORDER BY r.n ON CONFLICT (message_id) DO NOTHING RETURNING topic)
SELECT pg_notify('bus_row_ab', topic) FROM (SELECT DISTINCT topic FROM ins) AS t"""
_KIND_ROWS = """WITH ins AS (
    INSERT INTO {t} (topic, key, partition, message_id, payload, headers,
                     kind_source, kind_type, kind_version)
    SELECT r.topic, r.key, r.partition, r.id, r.payload, r.headers, r.ks, r.kt, r.kv
    FROM ROWS FROM (json_to_recordset(%(rows)s::json)
         AS (topic text, key text, partition int, id text, payload json, headers json,
             ks text, kt text, kv text))
         WITH ORDINALITY AS r(topic, key, partition, id, payload, headers, ks, kt, kv, n)
    ORDER BY r.n ON CONFLICT (message_id) DO NOTHING RETURNING topic)
SELECT pg_notify('bus_row_ab', topic) FROM (SELECT DISTINCT topic FROM ins) AS t"""
_FETCH = (
    "SELECT seq, xid::text, topic, key, message_id, payload::text, headers::text, published_at"
    " FROM {t} ORDER BY seq DESC LIMIT %s"
)
# name: (column type, published_at index, publish statement, row shape)
VARIANTS: dict[str, tuple[str, bool, str, str]] = {
    "jsonb, 4 indexes (migrations 0001-0003)": ("jsonb", True, _ARRAY_ROWS, "array"),
    "json, 4 indexes (migration 0004)": ("json", True, _OBJECT_ROWS, "object"),
    "json, 4 indexes, kind columns (migration 0005)": ("json", True, _KIND_ROWS, "kind"),
    "json, 3 indexes": ("json", False, _OBJECT_ROWS, "object"),
    "jsonb, 3 indexes": ("jsonb", False, _ARRAY_ROWS, "array"),
}


def _table(name: str, column: str, published_index: bool, shape: str) -> str:
    kind = "kind_source text, kind_type text, kind_version text," if shape == "kind" else ""
    ddl = f"""
    DROP TABLE IF EXISTS {name};
    CREATE TABLE {name} (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        topic text NOT NULL, key text NOT NULL, partition integer NOT NULL,
        message_id text NOT NULL, payload {column} NOT NULL,
        headers {column} NOT NULL DEFAULT '{{}}', {kind}
        published_at timestamptz NOT NULL DEFAULT now());
    CREATE UNIQUE INDEX {name}_id ON {name} (message_id);
    CREATE INDEX {name}_read ON {name} (topic, partition, xid, seq);
    """
    return ddl + (f"CREATE INDEX {name}_at ON {name} (published_at);" if published_index else "")


def _event(i: int) -> dict[str, Any]:
    """A canonical frontend event as the intake publishes it (`CanonicalEvent.to_dict`)."""
    return {
        "id": str(uuid.uuid4()),
        "source": "frontend",
        "type": "click_button_help" if i % 2 else "add_to_cart",
        "version": "1.0",
        "occurred_at": "2020-10-12T23:01:14+00:00",
        "received_at": datetime.now(UTC).isoformat(),
        "trace_key": uuid.uuid4().hex,
        "device": {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"},
        "data": {} if i % 2 else {"userId": 7, "productId": 3, "quantity": 1},
    }


def _batch(size: int, shape: str) -> dict[str, str]:
    rows: list[Any] = []
    for i in range(size):
        event, part = _event(i), random.randrange(16)
        headers = {"trace_key": event["trace_key"]}
        if shape != "array":
            row = {"topic": "events", "key": "device:x", "partition": part, "id": event["id"]}
            if shape == "kind":
                row.update(ks=event["source"], kt=event["type"], kv=event["version"])
            rows.append({**row, "payload": event, "headers": headers})
        else:
            rows.append(["events", "device:x", part, event["id"], event, headers])
    return {"rows": orjson.dumps(rows).decode()}


def _cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="a scratch database")
    parser.add_argument("--rows", type=int, default=20, help="events per publish statement")
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    tables = {name: f"bus_row_ab_{i}" for i, name in enumerate(VARIANTS)}
    publish: dict[str, list[float]] = {name: [] for name in VARIANTS}
    fetch: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = int(row[0])
        for name, (column, indexed, _, shape) in VARIANTS.items():
            conn.execute(_table(tables[name], column, indexed, shape).encode())
        written = (args.batches - 1) * args.rows
        for _ in range(args.rounds):
            spent = dict.fromkeys(VARIANTS, 0)
            params = {
                n: [_batch(args.rows, v[3]) for _ in range(args.batches)]
                for n, v in VARIANTS.items()
            }
            for name, variant in VARIANTS.items():  # plans and caches warm
                conn.execute(variant[2].format(t=tables[name]).encode(), params[name][0])
            for b in range(1, args.batches):
                for name in VARIANTS if b % 2 else reversed(VARIANTS):
                    statement = VARIANTS[name][2].format(t=tables[name]).encode()
                    before = _cpu_ns(pid)
                    conn.execute(statement, params[name][b])
                    spent[name] += _cpu_ns(pid) - before
            read = dict.fromkeys(VARIANTS, 0)
            for _ in range(3):
                for name in VARIANTS:
                    before = _cpu_ns(pid)
                    conn.execute(_FETCH.format(t=tables[name]).encode(), (written,)).fetchall()
                    read[name] += _cpu_ns(pid) - before
            for name in VARIANTS:
                publish[name].append(spent[name] / written / 1000)
                fetch[name].append(read[name] / (3 * written) / 1000)
        for name in VARIANTS:
            table = tables[name]
            size = conn.execute(
                f"SELECT pg_total_relation_size('{table}') / count(*) FROM {table}".encode()
            ).fetchone()
            conn.execute(f"DROP TABLE {tables[name]}".encode())
            print(
                f"{name}: publish µs/row {', '.join(f'{x:.1f}' for x in publish[name])};"
                f" fetch µs/row {', '.join(f'{x:.2f}' for x in fetch[name])};"
                f" {size[0] if size else '?'} bytes/row with indexes",
                flush=True,
            )


if __name__ == "__main__":
    main()
