from __future__ import annotations

from pathlib import Path

from caudal.web.explorer import to_utc as _to_utc
from caudal.web.pages import _count
from caudal.web.render import money as _money
from caudal.web.render import when as _when
from caudal.web.sources.pipelines import open_output
from caudal.web.stream import sse


def test_server_sent_event_framing() -> None:
    assert sse("overview", {"a": 1}) == b'event: overview\ndata: {"a":1}\n\n'


def test_counts_echoed_after_a_redirect_are_digits_only() -> None:
    assert _count("3") == 3
    assert _count(None) is None
    assert _count("3 events were stolen") is None
    assert _count("-1") is None


def test_datetime_local_inputs_are_read_as_utc() -> None:
    assert _to_utc("2026-11-22T10:00") == "2026-11-22T10:00:00+00:00"
    assert _to_utc("2026-11-22T10:00:00-03:00") == "2026-11-22T13:00:00+00:00"
    assert _to_utc("15m") == "15m"  # durations pass through to the monitor API


def test_display_filters() -> None:
    assert _when("2026-11-22T10:00:00Z") == "2026-11-22 10:00:00 UTC"
    assert _when("2026-11-22T07:00:00-03:00") == "2026-11-22 10:00:00 UTC"
    assert _when(None) == "—"
    assert _money("1234.5") == "1,234.50"
    assert _money("-0.10") == "-0.10"
    assert _money(None) == "—"


def test_a_deleted_output_is_known_before_any_byte_is_promised(tmp_path: Path) -> None:
    kept = tmp_path / "user_carts.csv"
    kept.write_bytes(b"user_id\n1\n")
    chunks = open_output(kept.as_uri())
    assert chunks is not None and b"".join(chunks) == b"user_id\n1\n"
    assert open_output((tmp_path / "gone.csv").as_uri()) is None
