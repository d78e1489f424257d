"""Pipeline runs and their CSV outputs, from the pipelines capability."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import items

RUNS = "/v1/pipelines/runs"
RUN = "/v1/pipelines/runs/{run_id}"
TRIGGER = "/v1/pipelines/user-carts/runs"
CHUNK = 1024 * 1024


def csv_output(run: dict[str, Any]) -> str | None:
    outputs = run.get("outputs") or []
    return next((str(o) for o in outputs if str(o).endswith(".csv")), None)


async def runs(reader: Reader, limit: int = 20) -> Section:
    section = await reader.get("Pipeline runs", scopes.PIPELINES_READ, RUNS, limit=limit)
    if not section.ok:
        return section
    found = items(section.value)[:limit]
    return Section.of([{**run, "csv": csv_output(run)} for run in found])


async def run(reader: Reader, run_id: str) -> Section:
    return await reader.get("Pipeline runs", scopes.PIPELINES_READ, f"{RUNS}/{run_id}", route=RUN)


async def start_user_carts(reader: Reader) -> Section:
    if not reader.session.has(scopes.PIPELINES_RUN):
        return Section.forbidden(scopes.PIPELINES_RUN)
    if not reader.has(TRIGGER):
        return Section.unavailable("Starting a pipeline run")
    result = await reader.api.post(TRIGGER, json={})
    if result.status == 403:
        return Section.forbidden(scopes.PIPELINES_RUN)
    if not result.ok:
        return Section.error(f"The run did not start: {result.detail}")
    return Section.of(result.body)


def open_output(url: str) -> Iterator[bytes] | None:
    """The output file in chunks, through fsspec (file://, s3://, gs://: wherever it was put),
    opened now so a file that is gone (deleted by retention) is known before any byte is sent;
    None when it is gone."""
    import fsspec

    try:
        handle = fsspec.open(url, "rb").open()
    except FileNotFoundError:
        return None

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    return chunks()
