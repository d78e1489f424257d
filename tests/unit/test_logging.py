"""Log format: JSON when piped, human on a terminal (CAUDAL_LOG_FORMAT overrides), on stderr."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator

import pytest
import structlog

from caudal.platform import logging as caudal_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    yield
    caudal_logging.configure("info")


def emit(stream: io.StringIO, log_format: str) -> str:
    caudal_logging.configure("info", stream=stream, log_format=log_format)
    structlog.get_logger("t").info("pipeline_started", run_id="r1")
    return stream.getvalue()


def test_piped_is_json_lines() -> None:
    line = json.loads(emit(io.StringIO(), "auto"))
    assert (line["event"], line["run_id"], line["level"]) == ("pipeline_started", "r1", "info")


def test_a_terminal_gets_the_human_form_unless_json_is_asked() -> None:
    human = emit(Terminal(), "auto")
    assert "pipeline_started" in human and "run_id" in human and not human.startswith("{")
    assert json.loads(emit(Terminal(), "json"))["event"] == "pipeline_started"
    assert not emit(io.StringIO(), "console").startswith("{")


def test_by_default_logs_go_to_stderr_never_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    caudal_logging.configure("info")
    structlog.get_logger("t").warning("something_odd")
    sys.stderr.flush()
    captured = capsys.readouterr()
    assert captured.out == "" and "something_odd" in captured.err
