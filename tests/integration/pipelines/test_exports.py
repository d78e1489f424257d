"""Exports: atomic (no partial file after a crash mid-write), `_SUCCESS`, retention."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

from caudal.pipelines.export import BucketExporter
from caudal.pipelines.model import today_utc
from caudal.platform.bootstrap import Container
from caudal.platform.settings import Settings
from tests.integration.pipelines.conftest import FakeStoreServer, run_once, with_pipelines


class CrashMidWrite(LocalFileSystem):  # type: ignore[misc]
    """A disk that dies half-way through writing the file named `victim`."""

    def __init__(self, victim: str) -> None:
        super().__init__()
        self.victim = victim

    def put_file(self, lpath: str, rpath: str, **kwargs: Any) -> None:
        if Path(lpath).name != self.victim:
            super().put_file(lpath, rpath, **kwargs)
            return
        data = Path(lpath).read_bytes()
        with open(rpath, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError("disk gone mid-write")


def files(tmp_path: Path, csv: str, parquet: bytes = b"PAR1...PAR1") -> list[Path]:
    staged = tmp_path / "staged"
    staged.mkdir(exist_ok=True)
    (staged / "user_carts.csv").write_text(csv)
    (staged / "user_carts.parquet").write_bytes(parquet)
    return [staged / "user_carts.csv", staged / "user_carts.parquet"]


def visible(folder: Path) -> list[str]:
    """What a reader globbing the partition sees (hidden `.` files are skipped by every engine)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_crash_mid_write_leaves_no_partial_file_and_no_success_marker(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    url = f"file://{bucket}"
    dt = date(2024, 6, 30)
    with pytest.raises(OSError, match="mid-write"):
        BucketExporter(url, fs=CrashMidWrite("user_carts.parquet")).export(
            dt, "run-1", 2, files(tmp_path, "h\n1\n2\n")
        )
    folder = bucket / "user_carts" / "dt=2024-06-30"
    assert visible(folder) == ["user_carts.csv"]  # complete: renamed into place before the crash
    assert not (folder / "_SUCCESS").exists()  # so the partition is not complete
    assert list(folder.glob(".*")) == []  # the half-written temporary file was removed
    # A later run completes the partition.
    done = BucketExporter(url).export(dt, "run-2", 3, files(tmp_path, "h\n1\n2\n3\n"))
    assert visible(folder) == ["_SUCCESS", "user_carts.csv", "user_carts.parquet"]
    assert (folder / "user_carts.csv").read_text() == "h\n1\n2\n3\n"
    assert json.loads((folder / "_SUCCESS").read_text())["rows"] == 3 == done.rows


def test_a_crash_while_replacing_keeps_the_old_complete_file_and_drops_the_marker(
    tmp_path: Path,
) -> None:
    bucket = tmp_path / "bucket"
    url = f"file://{bucket}"
    dt = date(2024, 6, 30)
    BucketExporter(url).export(dt, "run-1", 1, files(tmp_path, "old\n1\n"))
    folder = bucket / "user_carts" / "dt=2024-06-30"
    with pytest.raises(OSError):
        BucketExporter(url, fs=CrashMidWrite("user_carts.csv")).export(
            dt, "run-2", 2, files(tmp_path, "new\n1\n2\n")
        )
    assert (folder / "user_carts.csv").read_text() == "old\n1\n"  # never a half-new file
    assert not (folder / "_SUCCESS").exists()
    assert list(folder.glob(".*")) == []


def test_stale_temporary_files_of_a_killed_run_are_swept(tmp_path: Path) -> None:
    folder = tmp_path / "bucket" / "user_carts" / "dt=2024-06-30"
    folder.mkdir(parents=True)
    (folder / ".user_carts.csv.dead-run.tmp").write_text("half")
    BucketExporter(f"file://{tmp_path / 'bucket'}").export(
        date(2024, 6, 30), "run-1", 1, files(tmp_path, "h\n1\n")
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "_SUCCESS",
        "user_carts.csv",
        "user_carts.parquet",
    ]


def test_retention_deletes_partitions_written_more_than_n_days_ago(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    exporter = BucketExporter(f"file://{bucket}")
    today = date(2024, 6, 30)
    for days_ago in (0, 1, 30, 31, 400):
        dt = today - timedelta(days=days_ago)
        exporter.export(dt, "r", 1, files(tmp_path, "h\n1\n"))
        written_at(bucket, dt, f"{dt}T23:59:59+00:00")  # written on its own date
    deleted = exporter.retain(30, today)
    assert deleted == [
        f"file://{bucket}/user_carts/dt=2023-05-27",
        f"file://{bucket}/user_carts/dt=2024-05-30",
    ]
    assert exporter.partitions() == [date(2024, 5, 31), date(2024, 6, 29), date(2024, 6, 30)]
    assert exporter.retain(0, today) == []  # 0 keeps everything


def test_backfills_written_today_survive_each_other(tmp_path: Path) -> None:
    """Retention counts from when an export was written (a lifecycle rule), not its date."""
    bucket = tmp_path / "bucket"
    exporter = BucketExporter(f"file://{bucket}")
    today = today_utc()
    for dt in (date(2020, 3, 1), date(2020, 3, 2), date(2020, 3, 3)):
        exporter.export(dt, "r", 1, files(tmp_path, "h\n1\n"))
        assert exporter.retain(30, today, keep=dt) == []
    assert len(exporter.partitions()) == 3
    written_at(bucket, date(2020, 3, 1), "2020-03-01T02:00:00-03:00")  # long ago
    assert exporter.retain(30, today) == [f"file://{bucket}/user_carts/dt=2020-03-01"]


def written_at(bucket: Path, dt: date, when: str) -> None:
    marker = bucket / "user_carts" / f"dt={dt.isoformat()}" / "_SUCCESS"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "written_at": when}))


async def test_a_run_applies_retention_but_keeps_its_own_backfilled_partition(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url, retention_days=7)
    exports = conf.home / "exports" / "user_carts"
    old = today_utc() - timedelta(days=8)
    recent = today_utc() - timedelta(days=6)
    for dt in (old, recent):
        (exports / f"dt={dt.isoformat()}").mkdir(parents=True)
        (exports / f"dt={dt.isoformat()}" / "user_carts.csv").write_text("h\n")
    record = await run_once(container, conf, "2020-03-02")  # a backfill, years old
    assert record.status == "succeeded", record.error
    assert sorted(p.name for p in exports.iterdir()) == [
        "dt=2020-03-02",
        f"dt={recent.isoformat()}",
    ]
