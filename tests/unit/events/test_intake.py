from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from caudal.events import registry_files
from caudal.events.intake import Intaker, Limits, client_event_id
from caudal.events.model import EVENTS_TOPIC
from caudal.events.registry import Registry
from caudal.platform.errors import CaudalError
from caudal.platform.uuid_text import random_uuids
from tests.support.fake_tokens import FakeCpfTokens

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SEED_FRONTEND = {
    "device": {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"},
    "data": [
        {"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"},
        {"timestamp": "2020-10-12T20:04:07-0300", "event_id": "click_button_next"},
    ],
}
SEED_SELFIE = {
    "eventType": "selfie-uploaded",
    "eventDateTime": "2020-10-12T21:38:43-0300",
    "version": "1.0",
    "data": {"selfield": "cc9aa584d6be"},
}


SHIPPED = registry_files.shipped()  # read and compiled once: a registry per test reuses them


@pytest.fixture
def intaker() -> Intaker:
    return Intaker(Registry(SHIPPED), Limits(max_items=50, max_depth=8), FakeCpfTokens())


def kw() -> dict[str, Any]:
    return {"received_at": NOW, "trace_key": "trace-1", "subject": "app"}


def test_seed_frontend_payload_becomes_one_event_per_item(intaker: Intaker) -> None:
    intake = intaker.frontend(SEED_FRONTEND, **kw())
    assert intake.rejections == []
    events = [e for _, e in intake.events]
    assert [e.type for e in events] == ["click_button_help", "click_button_next"]
    first = events[0]
    assert first.source == "frontend"
    assert first.version == "1.0"
    assert first.device == {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"}
    assert first.occurred_at == datetime(2020, 10, 12, 23, 1, 14, tzinfo=UTC)
    assert first.received_at == NOW
    assert first.trace_key == "trace-1"
    assert first.data == {}
    messages = intake.messages()
    assert [m.id for m in messages] == [e.id for e in events]
    assert messages[0].topic == EVENTS_TOPIC
    assert messages[0].key == "device:je28c5slx5aoj1bx4"
    assert messages[0].headers == {"trace_key": "trace-1"}
    assert messages[0].payload["occurred_at"] == "2020-10-12T23:01:14+00:00"


def test_extra_item_properties_are_kept_and_validated(intaker: Intaker) -> None:
    body = {
        "device": {"platform": "iOS", "deviceId": "d1"},
        "data": [
            {
                "timestamp": "2024-05-01T10:00:00Z",
                "event_id": "add_to_cart",
                "userId": 7,
                "productId": 3,
                "quantity": 2,
                "price": 9.9,
            },
            {
                "timestamp": "2024-05-01T10:00:00Z",
                "event_id": "add_to_cart",
                "userId": 7,
                "productId": 3,
                "quantity": 0,
            },
            {
                "timestamp": "2024-05-01T10:00:00Z",
                "event_id": "click_banner",
                "version": "2.1",
                "banner": "promo",
            },
        ],
    }
    intake = intaker.frontend(body, **kw())
    accepted = {i: e for i, e in intake.events}
    assert set(accepted) == {0, 2}
    assert accepted[0].data == {"userId": 7, "productId": 3, "quantity": 2, "price": 9.9}
    assert accepted[2].version == "2.1" and accepted[2].data == {"banner": "promo"}
    [rejected] = intake.rejections
    assert (rejected.index, rejected.reason, rejected.field) == (
        1,
        "schema_violation",
        "data[1].quantity",
    )
    assert rejected.code == "CAU-EVT-SCHEMA-VIOLATION"
    assert rejected.payload == {"device": body["device"], "item": body["data"][1]}


def test_item_level_problems_reject_only_that_item(intaker: Intaker) -> None:
    body = {
        "device": {"platform": "Android", "deviceId": "d"},
        "data": [
            "not an object",
            {"timestamp": "2020-10-12T20:01:14", "event_id": "click_a"},
            {"timestamp": "2020-10-12T20:01:14Z", "event_id": "bad id!"},
            {"timestamp": "2020-10-12T20:01:14Z", "event_id": "click_ok"},
        ],
    }
    intake = intaker.frontend(body, **kw())
    assert [i for i, _ in intake.events] == [3]
    assert [(r.index, r.code, r.field) for r in intake.rejections] == [
        (0, "CAU-EVT-ITEM", "data[0]"),
        (1, "CAU-EVT-TIMESTAMP", "data[1].timestamp"),
        (2, "CAU-EVT-EVENT-ID", "data[2].event_id"),
    ]
    assert {r.reason for r in intake.rejections} == {"invalid_envelope"}


@pytest.mark.parametrize(
    ("body", "code", "status", "field"),
    [
        ([], "CAU-EVT-BODY", 422, "body"),
        ({"data": []}, "CAU-EVT-DEVICE", 422, "device"),
        ({"device": {"platform": "A"}, "data": []}, "CAU-EVT-DEVICE", 422, "device.deviceId"),
        (
            {"device": {"platform": 1, "deviceId": "d"}, "data": []},
            "CAU-EVT-DEVICE",
            422,
            "device.platform",
        ),
        ({"device": {"platform": "A", "deviceId": "d"}, "data": {}}, "CAU-EVT-DATA", 422, "data"),
        ({"device": {"platform": "A", "deviceId": "d"}, "data": []}, "CAU-EVT-EMPTY", 422, "data"),
    ],
)
def test_request_level_problems_are_4xx(
    intaker: Intaker, body: Any, code: str, status: int, field: str
) -> None:
    with pytest.raises(CaudalError) as caught:
        intaker.frontend(body, **kw())
    assert (caught.value.code, caught.value.status, caught.value.field) == (code, status, field)


def test_too_many_items_and_too_deep_data_are_refused(intaker: Intaker) -> None:
    item = {"timestamp": "2020-10-12T20:01:14Z", "event_id": "click_x"}
    with pytest.raises(CaudalError) as many:
        intaker.frontend(
            {"device": {"platform": "A", "deviceId": "d"}, "data": [item] * 51}, **kw()
        )
    assert (many.value.code, many.value.status) == ("CAU-EVT-TOO-MANY-ITEMS", 413)
    deep: Any = "leaf"
    for _ in range(20):
        deep = {"x": deep}
    with pytest.raises(CaudalError) as nested:
        intaker.frontend(
            {"device": {"platform": "A", "deviceId": "d"}, "data": [{**item, "deep": deep}]}, **kw()
        )
    assert (nested.value.code, nested.value.status) == ("CAU-EVT-TOO-DEEP", 422)
    shallow: Any = "leaf"
    for _ in range(5):
        shallow = {"x": shallow}
    ok = intaker.frontend(
        {"device": {"platform": "A", "deviceId": "d"}, "data": [{**item, "deep": shallow}]}, **kw()
    )
    assert len(ok.events) == 1


def test_seed_backend_payload_is_validated_against_its_schema(intaker: Intaker) -> None:
    intake = intaker.backend(SEED_SELFIE, **kw())
    [(index, event)] = intake.events
    assert index == 0
    assert (event.source, event.type, event.version) == ("backend", "selfie-uploaded", "1.0")
    assert event.data == {"selfield": "cc9aa584d6be"}
    assert event.occurred_at == datetime(2020, 10, 13, 0, 38, 43, tzinfo=UTC)
    assert event.device is None


def test_backend_rejections_name_the_reason(intaker: Intaker) -> None:
    cases = {
        "unknown_type": {**SEED_SELFIE, "eventType": "loan-approved"},
        "unknown_version": {**SEED_SELFIE, "version": "9.0"},
        "schema_violation": {**SEED_SELFIE, "data": {"selfield": 12}},
        "invalid_envelope": {**SEED_SELFIE, "eventDateTime": "12/10/2020"},
    }
    for reason, body in cases.items():
        intake = intaker.backend(body, **kw())
        assert intake.events == []
        [rejection] = intake.rejections
        assert rejection.reason == reason
        assert rejection.payload == body
    unknown = intaker.backend(cases["unknown_type"], **kw()).rejections[0]
    assert (unknown.code, unknown.field) == ("CAU-EVT-UNKNOWN-TYPE", "eventType")
    violation = intaker.backend(cases["schema_violation"], **kw()).rejections[0]
    assert violation.field == "data.selfield"


def test_bureau_query_with_seed_field_names(intaker: Intaker) -> None:
    body = {
        "eventType": "bureau-query",
        "eventDateTime": "2024-02-01T09:00:00-03:00",
        "version": "1.0",
        "data": {
            "cpf": "529.982.247-25",
            "empresa": "Loja X",
            "data_consulta": "2024-02-01",
            "tipo_empresa": "varejo",
        },
    }
    intake = intaker.backend(body, **kw())
    assert intake.rejections == []
    token = FakeCpfTokens().cpf_token("52998224725")
    assert intake.events[0][1].data["cpf"] == token  # the CPF itself is never published
    assert intake.messages()[0].key == f"cpf:{token}"


def test_batch_accepts_an_array_or_an_events_object(intaker: Intaker) -> None:
    bad = {**SEED_SELFIE, "data": {}}
    as_array = intaker.batch([SEED_SELFIE, bad, SEED_SELFIE], **kw())
    assert [i for i, _ in as_array.events] == [0, 2]
    assert [(r.index, r.field) for r in as_array.rejections] == [(1, "[1].data.selfield")]
    as_object = intaker.batch({"events": [SEED_SELFIE, bad]}, **kw())
    assert [(r.index, r.field) for r in as_object.rejections] == [(1, "events[1].data.selfield")]


def test_client_event_id_gives_a_stable_canonical_id(intaker: Intaker) -> None:
    body = {**SEED_SELFIE, "eventId": "client-42"}
    first = intaker.backend(body, **kw()).events[0][1]
    again = intaker.backend(body, **kw()).events[0][1]
    assert first.id == again.id == client_event_id("app", "client-42")
    other_tenant = intaker.backend(body, received_at=NOW, trace_key=None, subject="other")
    assert other_tenant.events[0][1].id != first.id


def test_response_lists_accepted_ids_and_rejections(intaker: Intaker) -> None:
    intake = intaker.batch([SEED_SELFIE, {**SEED_SELFIE, "version": "3"}], **kw())
    body = intake.response()
    assert body["accepted"] == [{"index": 0, "id": intake.events[0][1].id}]
    [rejected] = body["rejected"]
    assert set(rejected) == {"index", "code", "message", "field", "reason", "quarantine_id"}
    assert (rejected["index"], rejected["code"], rejected["field"]) == (
        1,
        "CAU-EVT-UNKNOWN-VERSION",
        "[1].version",
    )


def test_a_frontend_type_with_a_schema_needs_a_registered_version(intaker: Intaker) -> None:
    item = {
        "timestamp": "2024-05-01T10:00:00Z",
        "event_id": "add_to_cart",
        "version": "2.0",
        "userId": 1,
        "productId": 1,
        "quantity": 1,
    }
    intake = intaker.frontend(
        {"device": {"platform": "A", "deviceId": "d"}, "data": [item]}, **kw()
    )
    [rejected] = intake.rejections
    assert (rejected.reason, rejected.code, rejected.field) == (
        "unknown_version",
        "CAU-EVT-UNKNOWN-VERSION",
        "data[0].version",
    )
    other = {"timestamp": "2024-05-01T10:00:00Z", "event_id": "click_x", "version": "7.3"}
    accepted = intaker.frontend(
        {"device": {"platform": "A", "deviceId": "d"}, "data": [other]}, **kw()
    )
    assert accepted.rejections == []  # no schema of its own: the generic click schema applies


def test_fresh_event_ids_are_random_version_4_uuids_in_canonical_text() -> None:
    ids = random_uuids(2_000)
    assert len(set(ids)) == 2_000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text  # lowercase, hyphenated: what `str(uuid.uuid4())` writes
    assert random_uuids(0) == []
