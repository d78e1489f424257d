"""The response shapes of the events APIs (ingestion, schema registry, quarantine, monitor), as
published in the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class AcceptedItem(BaseModel):
    index: int
    id: str = Field(description="The event id on the bus and in the lake.")


class RejectedItem(BaseModel):
    index: int
    code: str
    message: str
    field: str
    reason: str
    quarantine_id: str | None


class IngestAnswer(BaseModel):
    accepted: list[AcceptedItem]
    rejected: list[RejectedItem] = Field(description="Kept in quarantine with their reason.")


class SchemaEntry(BaseModel):
    type: str
    version: str
    source: str
    description: str | None
    origin: str
    schema_: dict[str, Any] = Field(alias="schema", description="The JSON Schema.")


class SchemaList(BaseModel):
    items: list[SchemaEntry]


class SchemaVersions(BaseModel):
    type: str
    latest: str
    versions: list[SchemaEntry]


class QuarantineEntry(BaseModel):
    id: str
    received_at: str
    source: str
    type: str | None
    version: str | None
    reason: str
    code: str
    message: str
    field: str | None
    payload: Any
    trace_key: str | None
    replayed_at: str | None
    event_id: str | None
    status: Literal["held", "replayed"]


class QuarantinePage(BaseModel):
    items: list[QuarantineEntry]
    next_cursor: str | None


class QuarantinePayload(BaseModel):
    id: str
    payload: Any = Field(description="The payload as received, opened with its day key.")


class StillInvalid(BaseModel):
    id: str
    code: str
    message: str


class ReplayReport(BaseModel):
    replayed: list[str] = Field(description="Quarantine ids now published.")
    still_invalid: list[StillInvalid]


class RateBucket(BaseModel):
    minute: str
    source: str
    type: str
    platform: str | None
    count: int


class Rates(BaseModel):
    since: str
    until: str
    total: int
    series: list[RateBucket]


class RecentEvent(BaseModel):
    id: str
    source: str
    type: str
    version: str | None
    occurred_at: str
    received_at: str
    platform: str | None
    device_id: str | None
    trace_key: str | None
    data: Any


class RecentEvents(BaseModel):
    items: list[RecentEvent]
    next_cursor: str | None
    prev_cursor: str | None
