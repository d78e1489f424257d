"""Turn seed 000's frontend and backend payloads into canonical events, or rejections.

Pure logic: no I/O. Request-level problems (a body that is not the documented shape, too many
items, data nested too deep) raise `CaudalError`; an item that fails on its own becomes a
`Rejection` that the caller keeps in quarantine while the valid items go on.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from caudal.events import personal, pii, pii_guard
from caudal.events.limits import depth_exceeds, most_containers
from caudal.events.model import CanonicalEvent, iso_text
from caudal.events.registry import TYPE_PATTERN, RegisteredSchema, Registry, validate
from caudal.events.timestamps import TimestampError, parse_utc
from caudal.platform.bus.model import Message, new_id
from caudal.platform.errors import CaudalError
from caudal.platform.uuid_text import random_uuids

DEFAULT_VERSION = "1.0"
FRONTEND_ENVELOPE = ("timestamp", "event_id", "version")
# Client event ids map to stable canonical ids, per token subject, so a retried event is one event.
_CLIENT_ID_NAMESPACE = uuid.UUID("0d6f4c8e-9b1a-4c55-8a57-6361756461ff")

# Why an item went to quarantine (the `reason` column; stable, documented).
INVALID_ENVELOPE = "invalid_envelope"
UNKNOWN_TYPE = "unknown_type"
UNKNOWN_VERSION = "unknown_version"
SCHEMA_VIOLATION = "schema_violation"


@dataclass(frozen=True)
class Limits:
    max_items: int = 1000
    max_depth: int = 32


@dataclass
class Rejection:
    index: int
    reason: str
    code: str
    message: str
    field: str
    source: str
    payload: Any
    type: str | None = None
    version: str | None = None
    quarantine_id: str = dataclasses.field(default_factory=new_id)

    def as_response(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "reason": self.reason,
            "quarantine_id": self.quarantine_id,
        }


@dataclass
class Intake:
    """The outcome of one request: events to publish (with their item index) and rejections."""

    events: list[tuple[int, CanonicalEvent]] = dataclasses.field(default_factory=list)
    rejections: list[Rejection] = dataclasses.field(default_factory=list)

    def messages(self) -> list[Message]:
        """One per event; the request's `received_at` (every event of an intake shares it)
        formatted once, not once per event."""
        if not self.events:
            return []
        received_at = self.events[0][1].received_at
        text = iso_text(received_at)
        return [
            event.to_message(
                partition_key(event), text if event.received_at is received_at else None
            )
            for _, event in self.events
        ]

    def response(self) -> dict[str, Any]:
        return {
            "accepted": [{"index": i, "id": e.id} for i, e in self.events],
            "rejected": [r.as_response() for r in self.rejections],
        }


def bad_request(code: str, message: str, field_name: str, status: int = 422) -> CaudalError:
    return CaudalError(
        code=code,
        detail=message,
        status=status,
        title="Payload too large" if status == 413 else "Invalid event payload",
        field=field_name,
    )


def partition_key(event: CanonicalEvent) -> str:
    """Order per device (frontend) or per CPF (backend: its token, see `events.pii`);
    otherwise no ordering is needed."""
    if event.device and isinstance(event.device.get("deviceId"), str):
        return f"device:{event.device['deviceId']}"
    cpf = event.data.get("cpf")
    if isinstance(cpf, str):
        return "cpf:" + (
            cpf if pii.CPF_TOKEN.match(cpf) else "".join(c for c in cpf if c.isdigit())
        )
    return event.id


def to_message(event: CanonicalEvent) -> Message:
    return event.to_message(partition_key(event))


def client_event_id(subject: str, client_id: str) -> str:
    return str(uuid.uuid5(_CLIENT_ID_NAMESPACE, f"{subject}\x00{client_id}"))


@dataclass(frozen=True, slots=True)
class _FrontendSchema:
    schema: RegisteredSchema | None  # None: no schema applies (the item is taken as it is)
    unknown_version: str | None  # the type is known, not at this version: why it is rejected


@dataclass(slots=True)
class _FrontendRequest:
    """What every item of one frontend request shares, worked out once for the request."""

    device: dict[str, Any]
    received_at: datetime
    trace_key: str | None
    values: bool  # check values for CPFs (`personal.may_hold_cpf` of the raw body)
    ids: list[str]  # one fresh event id per item
    schemas: dict[tuple[str, str], _FrontendSchema] = dataclasses.field(default_factory=dict)


class Reject(Protocol):
    def __call__(self, reason: str, code: str, message: str, field_name: str, **kw: Any) -> None:
        """Quarantine the item with this reason, code and message, naming its faulty field."""


def _envelope(
    item: Any, type_field: tuple[str, str], time_field: str, reject: Reject
) -> tuple[str, str, datetime] | None:
    """The type, version and time every event carries (frontend and backend name the type and
    time fields differently); None when the item was rejected."""
    name, code = type_field
    if not isinstance(item, dict):
        reject(INVALID_ENVELOPE, "CAU-EVT-ITEM", "each event must be an object", "")
        return None
    type_ = item.get(name)
    if not isinstance(type_, str) or not TYPE_PATTERN.fullmatch(type_):
        reject(INVALID_ENVELOPE, code, f"`{name}` must be 1-128 letters, digits or . _ : -", name)
        return None
    version = item.get("version", DEFAULT_VERSION)
    if not isinstance(version, str) or not version:
        reject(
            INVALID_ENVELOPE,
            "CAU-EVT-VERSION",
            "`version` must be a string such as 1.0",
            "version",
            type=type_,
        )
        return None
    try:
        occurred_at = parse_utc(item.get(time_field))
    except TimestampError as exc:
        reject(
            INVALID_ENVELOPE,
            "CAU-EVT-TIMESTAMP",
            f"`{time_field}` {exc}",
            time_field,
            type=type_,
            version=version,
        )
        return None
    return type_, version, occurred_at


class Intaker:
    """Builds an `Intake` from a request body with the registry as it is now."""

    def __init__(
        self, registry: Registry, limits: Limits, tokens: pii.CpfTokenizer | None = None
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.tokens = tokens  # needed only by schemas with a CPF field

    def _protect(self, schema: RegisteredSchema | None, data: Any, values: bool) -> Any:
        """A valid item's data as it may be stored: personal fields tokenized or dropped
        (`events.pii`); a `pii.Refusal` when the item cannot be made safe, or when it holds
        personal data its schema does not account for (`events.pii_guard`, on the data as
        received; its values only when `values`: the body may hold a CPF)."""
        safe = data if schema is None else pii.apply(schema.pii, data, self.tokens)
        if not isinstance(safe, pii.Refusal):
            declared = None if schema is None else schema.declared
            found = pii_guard.scan(declared, data, values)
            if found is not None:
                return found
        return safe

    # ---- frontend -------------------------------------------------------------------------

    def frontend(
        self,
        body: Any,
        *,
        received_at: datetime,
        trace_key: str | None,
        subject: str,
        raw: bytes | None = None,
    ) -> Intake:
        """`raw`: the body's bytes, when the caller has them: nothing CPF-shaped in them
        (`personal.may_hold_cpf`) skips the CPF check of the values."""
        if not isinstance(body, dict):
            raise bad_request(
                "CAU-EVT-BODY", "the body must be an object with `device` and `data`", "body"
            )
        device = body.get("device")
        if not isinstance(device, dict):
            raise bad_request(
                "CAU-EVT-DEVICE", "`device` must be an object with platform and deviceId", "device"
            )
        for name, limit in (("platform", 64), ("deviceId", 128)):
            value = device.get(name)
            if not isinstance(value, str) or not 0 < len(value) <= limit:
                raise bad_request(
                    "CAU-EVT-DEVICE",
                    f"`device.{name}` must be a string of 1 to {limit} characters",
                    f"device.{name}",
                )
        if len(device) > 20 or depth_exceeds(device, 3):
            raise bad_request("CAU-EVT-DEVICE", "`device` has too many or nested fields", "device")
        values = raw is None or personal.may_hold_cpf(raw)
        # Copied into every event of the request, and no schema describes it: refused whole.
        found = pii_guard.scan(None, device, values, root="device")
        if found is not None:
            message = f"{found.field}: `device` may not hold personal data (its name or a CPF)"
            raise bad_request(found.code, message, found.field)
        items = self._items(body.get("data"), "data", most_containers(raw))
        intake = Intake()
        request = _FrontendRequest(device, received_at, trace_key, values, random_uuids(len(items)))
        for index, item in enumerate(items):
            self._frontend_item(intake, index, item, request)
        return intake

    def _items(self, items: Any, field_name: str, containers: int | None = None) -> list[Any]:
        """`items` if it is a list of events within the limits, else raise. `containers`: at
        most how many objects and arrays `items` holds (`most_containers`), when known."""
        if not isinstance(items, list):
            raise bad_request(
                "CAU-EVT-DATA", f"`{field_name}` must be an array of events", field_name
            )
        if not items:
            raise bad_request("CAU-EVT-EMPTY", f"`{field_name}` holds no event", field_name)
        if len(items) > self.limits.max_items:
            raise bad_request(
                "CAU-EVT-TOO-MANY-ITEMS",
                f"{len(items)} events in one request; the limit is {self.limits.max_items}: "
                "split them into several requests",
                field_name,
                status=413,
            )
        limit = self.limits.max_depth + 2
        if (containers is None or containers > limit) and depth_exceeds(items, limit):
            raise bad_request(
                "CAU-EVT-TOO-DEEP",
                f"event data nests deeper than {self.limits.max_depth} levels",
                field_name,
            )
        return items

    def _frontend_schema(
        self, type_: str, version: str, known: dict[tuple[str, str], _FrontendSchema]
    ) -> _FrontendSchema:
        """The schema of a frontend item's (type, version), or why there is none; looked up
        once per request and kind (`known`): a request's items are mostly of a few kinds."""
        found = known.get((type_, version))
        if found is not None:
            return found
        if self.registry.get(type_, version) is None and self.registry.knows_type(type_):
            registered = ", ".join(e.version for e in self.registry.versions(type_))
            message = f"no schema for {type_} version {version} (registered: {registered})"
            found = _FrontendSchema(None, message)
        else:
            found = _FrontendSchema(self.registry.for_frontend(type_, version), None)
        known[(type_, version)] = found
        return found

    def _frontend_item(
        self, intake: Intake, index: int, item: Any, request: _FrontendRequest
    ) -> None:
        def reject(reason: str, code: str, message: str, field_name: str, **kw: Any) -> None:
            where = f"data[{index}]"
            at = f"{where}.{field_name}" if field_name else where
            raw = {"device": request.device, "item": item}
            intake.rejections.append(
                Rejection(index, reason, code, message, at, "frontend", raw, **kw)
            )

        envelope = _envelope(item, ("event_id", "CAU-EVT-EVENT-ID"), "timestamp", reject)
        if envelope is None:
            return
        type_, version, occurred_at = envelope
        data = item.copy()  # the item without its envelope, in its order
        for name in FRONTEND_ENVELOPE:
            data.pop(name, None)
        found = self._frontend_schema(type_, version, request.schemas)
        if found.unknown_version is not None:
            reject(
                UNKNOWN_VERSION,
                "CAU-EVT-UNKNOWN-VERSION",
                found.unknown_version,
                "version",
                type=type_,
                version=version,
            )
            return
        schema = found.schema
        if schema is not None and (violation := validate(schema, data)) is not None:
            reject(
                SCHEMA_VIOLATION,
                violation.code,
                f"{violation.message} (schema {schema.type} {schema.version})",
                violation.field.removeprefix("data.") if violation.field != "data" else "",
                type=type_,
                version=version,
            )
            return
        data = self._protect(schema, data, request.values)
        if isinstance(data, pii.Refusal):
            named = "" if schema is None else f" (schema {schema.type} {schema.version})"
            at = data.field.removeprefix("data.")
            reject(
                SCHEMA_VIOLATION, data.code, data.message + named, at, type=type_, version=version
            )
            return
        event = CanonicalEvent(
            source="frontend",
            type=type_,
            version=version,
            occurred_at=occurred_at,
            received_at=request.received_at,
            data=data,
            trace_key=request.trace_key,
            device=request.device,
            id=request.ids[index],
        )
        intake.events.append((index, event))

    # ---- backend --------------------------------------------------------------------------

    def backend(
        self,
        body: Any,
        *,
        received_at: datetime,
        trace_key: str | None,
        subject: str,
        raw: bytes | None = None,
    ) -> Intake:
        if not isinstance(body, dict):
            raise bad_request(
                "CAU-EVT-BODY",
                "the body must be an object with eventType, eventDateTime, version and data",
                "body",
            )
        found = most_containers(raw)
        self._items([body], "body", None if found is None else found + 1)  # depth guard
        intake = Intake()
        values = raw is None or personal.may_hold_cpf(raw)
        self._backend_item(intake, 0, body, "", received_at, trace_key, subject, values)
        return intake

    def batch(
        self,
        body: Any,
        *,
        received_at: datetime,
        trace_key: str | None,
        subject: str,
        raw: bytes | None = None,
    ) -> Intake:
        items = body.get("events") if isinstance(body, dict) else body
        field_name = "events" if isinstance(body, dict) else "body"
        items = self._items(items, field_name, most_containers(raw))
        intake = Intake()
        values = raw is None or personal.may_hold_cpf(raw)
        for index, item in enumerate(items):
            prefix = f"{field_name}[{index}]." if field_name == "events" else f"[{index}]."
            self._backend_item(intake, index, item, prefix, received_at, trace_key, subject, values)
        return intake

    def _backend_item(
        self,
        intake: Intake,
        index: int,
        item: Any,
        prefix: str,
        received_at: datetime,
        trace_key: str | None,
        subject: str,
        values: bool = True,
    ) -> None:
        def reject(reason: str, code: str, message: str, field_name: str, **kw: Any) -> None:
            intake.rejections.append(
                Rejection(index, reason, code, message, prefix + field_name, "backend", item, **kw)
            )

        envelope = _envelope(item, ("eventType", "CAU-EVT-EVENT-TYPE"), "eventDateTime", reject)
        if envelope is None:
            return
        type_, version, occurred_at = envelope
        kw: dict[str, Any] = {"type": type_, "version": version}
        data = item.get("data")
        if not isinstance(data, dict):
            reject(INVALID_ENVELOPE, "CAU-EVT-DATA", "`data` must be an object", "data", **kw)
            return
        client_id = item.get("eventId")
        if client_id is not None and (
            not isinstance(client_id, str) or not 0 < len(client_id) <= 128
        ):
            reject(
                INVALID_ENVELOPE,
                "CAU-EVT-EVENT-ID",
                "`eventId` must be a string of 1 to 128 characters",
                "eventId",
                **kw,
            )
            return
        schema = self._backend_schema(type_, version)
        if isinstance(schema, tuple):
            reason, code, message = schema
            reject(
                reason, code, message, "eventType" if reason == UNKNOWN_TYPE else "version", **kw
            )
            return
        violation = validate(schema, data)
        if violation is not None:
            reject(
                SCHEMA_VIOLATION,
                violation.code,
                f"{violation.message} (schema {schema.type} {schema.version})",
                violation.field,
                **kw,
            )
            return
        data = self._protect(schema, data, values)
        if isinstance(data, pii.Refusal):
            message = f"{data.message} (schema {schema.type} {schema.version})"
            reject(SCHEMA_VIOLATION, data.code, message, data.field, **kw)
            return
        event = CanonicalEvent(
            source="backend",
            type=type_,
            version=version,
            occurred_at=occurred_at,
            received_at=received_at,
            data=data,
            trace_key=trace_key,
            id=client_event_id(subject, client_id) if client_id else new_id(),
        )
        intake.events.append((index, event))

    def _backend_schema(self, type_: str, version: str) -> RegisteredSchema | tuple[str, str, str]:
        found = self.registry.get(type_, version) or self.registry.family(type_, version)
        if found is not None:
            return found
        if self.registry.knows_type(type_):
            known = ", ".join(e.version for e in self.registry.versions(type_))
            return (
                UNKNOWN_VERSION,
                "CAU-EVT-UNKNOWN-VERSION",
                f"no schema for {type_} version {version} (registered: {known})",
            )
        return (
            UNKNOWN_TYPE,
            "CAU-EVT-UNKNOWN-TYPE",
            f"no schema is registered for event type {type_}; register one with POST /v1/schemas",
        )
