"""Bus migration 0004 (payloads and headers `jsonb` -> `json`) over a log that holds messages:
they are delivered as they were published, before and after new ones."""

from __future__ import annotations

import psycopg
import pytest

from caudal.bus.postgres import PostgresBus
from caudal.platform.bus.model import Message
from caudal.platform.db import migrations
from caudal.platform.db.pool import Database
from tests.support.bus import Collecting, consuming, fast_bus_settings, until
from tests.support.postgres import PostgresCluster, migrate_without

JSON_MIGRATION = ("bus", 4)
OLD_PAYLOADS = [
    {"n": 0, "text": "ação ✓", "nested": {"b": [1, 2.5, None, True], "a": "x"}},
    {"n": 1, "amount": "12.30", "big": 9007199254740993},
    {"n": 2, "quote": 'say "hi" \\ bye'},
]


def _column_types(conn: psycopg.Connection[tuple[object, ...]], table: str) -> set[object]:
    rows = conn.execute(
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_schema = 'bus' AND table_name = %s"
        " AND column_name IN ('payload', 'headers')",
        (table,),
    ).fetchall()
    return {t for (t,) in rows}


async def test_messages_stored_as_jsonb_are_delivered_unchanged_after_the_migration(
    pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pg_cluster.database(migrated=False) as url:
        migrate_without(url, JSON_MIGRATION, monkeypatch)
        with psycopg.connect(url) as conn:
            assert _column_types(conn, "messages") == {"jsonb"}
            for i, payload in enumerate(OLD_PAYLOADS):
                conn.execute(
                    "INSERT INTO bus.messages (topic, key, partition, message_id, payload, headers)"
                    " VALUES ('t', 'k', %s, %s, %s::jsonb, %s::jsonb)",
                    (0, f"old-{i}", psycopg.types.json.Json(payload), '{"trace_key": "tk"}'),
                )
            conn.execute(
                "INSERT INTO bus.outbox (topic, key, message_id, payload)"
                " VALUES ('t', 'k', 'outbox-0', '{\"n\": 9}')"
            )

        assert [m.key for m in migrations.migrate(url)] == [JSON_MIGRATION]
        with psycopg.connect(url) as conn:
            assert _column_types(conn, "messages") == {"json"}
            assert _column_types(conn, "outbox") == {"json"}
            outbox = conn.execute("SELECT payload::text, headers::text FROM bus.outbox").fetchone()
        assert outbox is not None and outbox[1] == "{}"

        database = Database(url, min_size=1, max_size=4)
        await database.open()
        try:
            bus = PostgresBus(database, fast_bus_settings(partitions=1))
            group = Collecting("after-upgrade")
            new = Message("t", "k", {"n": 3, "text": "ação"}, headers={"trace_key": "new"})
            async with consuming(bus, group):
                await bus.publish([new])
                await until(lambda: len(group.records) == 4)
        finally:
            await database.close()
    messages = [r.message for r in group.records]
    assert [m.id for m in messages] == ["old-0", "old-1", "old-2", new.id]  # log order kept
    assert [m.payload for m in messages] == [*OLD_PAYLOADS, new.payload]
    assert [m.headers for m in messages] == [{"trace_key": "tk"}] * 3 + [{"trace_key": "new"}]
