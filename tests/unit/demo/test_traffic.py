"""The demo sends what the API accepts: every payload passes the receiving domain's own rules."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from importlib import resources

import jsonschema
import pytest

from caudal.customers import cpf as cpf_rules
from caudal.customers.validation import Cliente, ScoreData, parse
from caudal.demo import traffic
from caudal.demo.runner import BACKEND_KINDS, Demo
from caudal.ledger import validation as ledger_rules

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def validator(event_type: str) -> jsonschema.Draft202012Validator:
    """The shipped schema, checked once (`jsonschema.validate` checks it again on every call)."""
    text = resources.files("caudal.events").joinpath("schemas", f"{event_type}.json").read_text()
    schema = json.loads(text)["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_cpfs_have_valid_check_digits() -> None:
    rng = random.Random(7)
    assert all(cpf_rules.is_valid(traffic.cpf(rng)) for _ in range(2000))


def test_seed_000_offset_timestamps() -> None:
    assert traffic.offset_timestamp(NOW) == "2026-11-22T09:00:00-0300"


@pytest.mark.parametrize("kind", [name for name, _ in BACKEND_KINDS])
def test_backend_events_match_their_registered_schema(kind: str) -> None:
    rng = random.Random(1)
    check = validator(kind)
    for _ in range(50):
        event = traffic.backend(rng, kind, NOW, traffic.cpf(rng))
        assert set(event) == {"eventType", "eventDateTime", "version", "data"}
        assert event["eventType"] == kind and event["version"] == "1.0"
        check.validate(event["data"])


def test_frontend_payload_is_seed_000_shaped_with_add_to_cart_for_the_pipeline() -> None:
    rng = random.Random(2)
    body = traffic.frontend(rng, ("iOS", "je28c5slx5aoj1bx4"), NOW, 3)
    assert body["device"] == {"platform": "iOS", "deviceId": "je28c5slx5aoj1bx4"}
    assert len(body["data"]) == 3
    items = [i for _ in range(200) for i in traffic.frontend(rng, ("iOS", "d"), NOW, 5, 7)["data"]]
    carts = [i for i in items if i["event_id"] == "add_to_cart"]
    assert all(i["event_id"].startswith("click_") for i in items if i not in carts)
    assert 0.1 < len(carts) / len(items) < 0.2
    check = validator("add_to_cart")
    for item in carts:
        data = {k: v for k, v in item.items() if k not in ("event_id", "timestamp")}
        check.validate(data)
        assert data["userId"] == 7 and 1 <= data["productId"] <= 20  # FakeStore's ids


def test_customers_pass_base_a_validation_and_keep_their_identity() -> None:
    rng = random.Random(3)
    for _ in range(50):
        person = traffic.cpf(rng)
        first, update = traffic.customer(rng, person), traffic.customer(rng, person)
        cliente = parse(Cliente, first)
        assert cliente.cpf == person
        stable = ("nome", "sexo", "data_nascimento", "estado_civil", "endereco")
        assert {k: first[k] for k in stable} == {k: update[k] for k in stable}


def test_score_data_passes_base_b_validation_and_is_stable() -> None:
    rng = random.Random(6)
    for _ in range(50):
        person = traffic.cpf(rng)
        body = traffic.score_data(person)
        parse(ScoreData, body)
        assert body["fontes_de_renda"] and body == traffic.score_data(person)


def test_ledger_impacts_pass_the_shape_rules() -> None:
    rng = random.Random(4)
    for _ in range(200):
        fields, errors = ledger_rules.check_shape(traffic.ledger_impact(rng, NOW))
        assert errors == [] and fields is not None


def test_tick_plan_matches_the_rate_and_skips_absent_kinds() -> None:
    demo = Demo(client=None, seed=5)  # type: ignore[arg-type]
    demo.kinds = ["frontend", "backend"]
    ticks = [demo.plan_tick(100.0) for _ in range(200)]
    assert all(set(t) <= {"frontend", "backend"} for t in ticks)
    frontend = sum(t.count("frontend") for t in ticks) / 200
    backend = sum(t.count("backend") for t in ticks) / 200
    # 100 events per tick: 70.6% as frontend requests of 3 events on average, the rest backend.
    assert 21 <= frontend <= 26
    assert 27 <= backend <= 32
