"""The response shapes of the pipelines API, as published in the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Run(BaseModel):
    id: str
    pipeline: str
    run_date: str
    trigger: str = Field(description="schedule | api | cli")
    source: str
    status: Literal["running", "succeeded", "failed", "abandoned"]
    rows: int | None
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    outputs: list[str] = Field(description="URLs of the files written.")
    error: dict[str, Any] | None
    requested_by: str


class Runs(BaseModel):
    runs: list[Run]
