from __future__ import annotations

from typing import Any

import psycopg
import pytest

SEED_FRONTEND: dict[str, Any] = {
    "device": {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"},
    "data": [
        {"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"},
        {"timestamp": "2020-10-12T20:04:07-0300", "event_id": "click_button_next"},
    ],
}
SEED_SELFIE: dict[str, Any] = {
    "eventType": "selfie-uploaded",
    "eventDateTime": "2020-10-12T21:38:43-0300",
    "version": "1.0",
    "data": {"selfield": "cc9aa584d6be"},
}


class Sql:
    """Read what the API wrote, as the database owner (not through our own code)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def one(self, query: str, *params: Any) -> Any:
        return self.rows(query, *params)[0][0]

    def execute(self, query: str, *params: Any) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(query, params)  # type: ignore[arg-type]

    def bus_events(self) -> list[dict[str, Any]]:
        return [
            r[0]
            for r in self.rows(
                "SELECT payload FROM bus.messages WHERE topic = 'events' ORDER BY seq"
            )
        ]


@pytest.fixture
def db(database_url: str) -> Sql:
    return Sql(database_url)
