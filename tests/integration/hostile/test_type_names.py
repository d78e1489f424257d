"""Type names are matched whole (`fullmatch`): `$` also matches before a final newline, so
`"click_x\\n"` passed and became the lake folder `click_x_`."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.integration.hostile.conftest import assert_problem

Auth = Callable[..., dict[str, str]]


async def test_a_trailing_newline_is_refused_everywhere(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    frontend = {
        "device": {"platform": "Android", "deviceId": "d1"},
        "data": [{"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_x\n"}],
    }
    response = await client.post("/v1/events/frontend", json=frontend, headers=auth())
    problem = assert_problem(response, 422, "CAU-EVT-REJECTED", "data[0].event_id")
    assert problem["rejected"][0]["code"] == "CAU-EVT-EVENT-ID"
    backend = {
        "eventType": "selfie-uploaded\n",
        "eventDateTime": "2020-10-12T21:38:43-0300",
        "version": "1.0",
        "data": {"selfield": "x"},
    }
    response = await client.post("/v1/events/backend", json=backend, headers=auth())
    problem = assert_problem(response, 422, "CAU-EVT-REJECTED", "eventType")
    assert problem["rejected"][0]["code"] == "CAU-EVT-EVENT-TYPE"
    for name, value in (("type", "loan\n"), ("version", "1.0\n")):
        definition = {"type": "loan", "version": "1.0", "schema": {}, name: value}
        response = await client.post("/v1/schemas", json=definition, headers=auth())
        assert_problem(response, 422, f"CAU-EVT-SCHEMA-{name.upper()}", name)
