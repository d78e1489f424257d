"""The bus text of canonical events is what it was before the intake's rework (the
`CanonicalEvent` dataclass became a `msgspec.Struct`, the request's `received_at` is formatted
once, datetimes in UTC are written by orjson): the same bytes, frontend and backend, a CPF
tokenised. The golden rows were written by the code before the change (`main` at `e67d9ad`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import caudal.events.intake as intake_module
from caudal.bus.postgres import PostgresBus
from caudal.events import registry_files
from caudal.events.intake import Intaker, Limits
from caudal.events.model import CanonicalEvent, iso_text
from caudal.events.registry import Registry
from caudal.platform.bus.model import Message
from caudal.platform.settings import BusSettings
from tests.support.fake_tokens import FakeCpfTokens

RECEIVED = datetime(2026, 12, 3, 17, 4, 5, 120034, tzinfo=UTC)
FRONTEND = {
    "device": {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"},
    "data": [
        {"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"},
        {
            "timestamp": "2020-10-12T20:01:14.5+05:30",
            "event_id": "add_to_cart",
            "userId": 7,
            "productId": 3,
            "quantity": 1,
        },
        {"timestamp": "0001-01-01T00:00:00Z", "event_id": "click_x", "label": "ação ✓", "n": 1.5},
        {
            "timestamp": "9999-12-31T23:59:59.999999+00:00",
            "event_id": "click_y",
            "nested": {"a": [1, None, True]},
        },
    ],
}
BACKEND = {
    "eventType": "bureau-query",
    "eventDateTime": "2024-02-01T09:00:00.000001-03:00",
    "version": "1.0",
    "eventId": "client-1",
    "data": {
        "cpf": "529.982.247-25",
        "empresa": "Loja X",
        "data_consulta": "2024-02-01",
        "tipo_empresa": "varejo",
    },
}
GOLDEN_ROWS = [
    '{"topic":"events","key":"device:je28c5slx5aoj1bx4","partition":6,"id":"00000000-0000-4000-8000-000000000000","payload":{"id":"00000000-0000-4000-8000-000000000000","source":"frontend","type":"click_button_help","version":"1.0","occurred_at":"2020-10-12T23:01:14+00:00","received_at":"2026-12-03T17:04:05.120034+00:00","trace_key":"trace-1","device":{"platform":"Android","deviceId":"je28c5slx5aoj1bx4"},"data":{}},"headers":{"trace_key":"trace-1"},"ks":"frontend","kt":"click_button_help","kv":"1.0"}',
    '{"topic":"events","key":"device:je28c5slx5aoj1bx4","partition":6,"id":"00000000-0000-4000-8000-000000000001","payload":{"id":"00000000-0000-4000-8000-000000000001","source":"frontend","type":"add_to_cart","version":"1.0","occurred_at":"2020-10-12T14:31:14.500000+00:00","received_at":"2026-12-03T17:04:05.120034+00:00","trace_key":"trace-1","device":{"platform":"Android","deviceId":"je28c5slx5aoj1bx4"},"data":{"userId":7,"productId":3,"quantity":1}},"headers":{"trace_key":"trace-1"},"ks":"frontend","kt":"add_to_cart","kv":"1.0"}',
    '{"topic":"events","key":"device:je28c5slx5aoj1bx4","partition":6,"id":"00000000-0000-4000-8000-000000000002","payload":{"id":"00000000-0000-4000-8000-000000000002","source":"frontend","type":"click_x","version":"1.0","occurred_at":"0001-01-01T00:00:00+00:00","received_at":"2026-12-03T17:04:05.120034+00:00","trace_key":"trace-1","device":{"platform":"Android","deviceId":"je28c5slx5aoj1bx4"},"data":{"label":"ação ✓","n":1.5}},"headers":{"trace_key":"trace-1"},"ks":"frontend","kt":"click_x","kv":"1.0"}',  # noqa: E501
    '{"topic":"events","key":"device:je28c5slx5aoj1bx4","partition":6,"id":"00000000-0000-4000-8000-000000000003","payload":{"id":"00000000-0000-4000-8000-000000000003","source":"frontend","type":"click_y","version":"1.0","occurred_at":"9999-12-31T23:59:59.999999+00:00","received_at":"2026-12-03T17:04:05.120034+00:00","trace_key":"trace-1","device":{"platform":"Android","deviceId":"je28c5slx5aoj1bx4"},"data":{"nested":{"a":[1,null,true]}}},"headers":{"trace_key":"trace-1"},"ks":"frontend","kt":"click_y","kv":"1.0"}',
    '{"topic":"events","key":"cpf:091cb1cb42655b035dad8a4a8d6a366683019bee5b152b16513531cc4c149e67","partition":0,"id":"f8c98f3b-3552-5cd6-b4c1-1022764da402","payload":{"id":"f8c98f3b-3552-5cd6-b4c1-1022764da402","source":"backend","type":"bureau-query","version":"1.0","occurred_at":"2024-02-01T12:00:00.000001+00:00","received_at":"2026-12-03T17:04:05.120034+00:00","trace_key":null,"device":null,"data":{"cpf":"091cb1cb42655b035dad8a4a8d6a366683019bee5b152b16513531cc4c149e67","empresa":"Loja X","data_consulta":"2024-02-01","tipo_empresa":"varejo"}},"headers":{},"ks":"backend","kt":"bureau-query","kv":"1.0"}',  # noqa: E501
]


def _rows(monkeypatch: pytest.MonkeyPatch) -> str:
    fixed = [f"00000000-0000-4000-8000-{i:012d}" for i in range(4)]
    monkeypatch.setattr(intake_module, "random_uuids", lambda n: fixed[:n])
    intaker = Intaker(Registry(registry_files.shipped()), Limits(), FakeCpfTokens())
    kw: dict[str, Any] = {"received_at": RECEIVED, "subject": "app"}
    front = intaker.frontend(FRONTEND, trace_key="trace-1", **kw)
    back = intaker.backend(BACKEND, trace_key=None, **kw)
    assert not front.rejections and not back.rejections
    bus = PostgresBus.__new__(PostgresBus)  # its publish parameters only: no database
    bus.settings = BusSettings()
    return bus._params(front.messages() + back.messages())["rows"]


def test_the_bus_rows_are_byte_for_byte_what_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _rows(monkeypatch) == "[" + ",".join(GOLDEN_ROWS) + "]"
    assert "529.982.247-25" not in _rows(monkeypatch)  # the CPF travels as its token only


def test_an_event_read_back_from_its_payload_is_the_same_event() -> None:
    event = CanonicalEvent(
        "frontend", "click", "1.0", RECEIVED, RECEIVED, {"a": 1}, device={"deviceId": "d"}
    )
    assert CanonicalEvent.from_dict(event.to_dict()) == event
    assert msgspec.structs.replace(event, id="x").id == "x"
    assert event.to_dict(received_at="given")["received_at"] == "given"
    message = event.to_message("k")
    assert message == Message("events", "k", event.to_dict(), event.id, {})


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_moment_in_utc_is_written_as_isoformat_writes_it(moment: datetime) -> None:
    assert iso_text(moment) == moment.isoformat()


@given(
    st.datetimes(),
    st.none()
    | st.builds(
        lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60, 23 * 60)
    ),
)
def test_any_other_moment_too(moment: datetime, zone: timezone | None) -> None:
    moment = moment.replace(tzinfo=zone)
    assert iso_text(moment) == moment.isoformat()
