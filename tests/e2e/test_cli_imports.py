"""What a `caudal` process imports before it works: a worker no HTTP stack, no DuckDB and no
other command's CLI; help no settings, no capability (start-up time of every process)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import cli_env

NOT_FOR_A_WORKER = ("fastapi", "starlette", "uvicorn", "duckdb", "caudal.demo.cli")


def _imported(importtime: str) -> set[str]:
    """Module names from `python -X importtime` lines: `import time: self | cumulative | name`."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_a_worker_imports_no_http_stack_no_duckdb_and_no_other_cli(
    database_url: str, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "caudal", "worker"],
        env=cli_env(tmp_path / "home", CAUDAL_DATABASE_URL=database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 90
    try:
        for line in proc.stderr:  # its services started: every import of the start is done
            lines.append(line)
            if line.startswith("running ") or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    output = "".join(lines) + rest
    assert proc.returncode == 0, output[-3000:]
    imported = _imported(output)
    assert "caudal.events.sinks.lake" in imported and "caudal.bus.postgres" in imported
    assert not imported.intersection(NOT_FOR_A_WORKER), sorted(
        imported.intersection(NOT_FOR_A_WORKER)
    )


def test_help_imports_neither_settings_nor_capabilities(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "caudal", "worker", "--help"],
        env=cli_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Run only the bus consumers" in done.stdout
    imported = _imported(done.stderr)
    assert "caudal.cli.main" in imported
    assert not {"caudal.wiring", "caudal.platform.settings", "psycopg"} & imported
    assert not {m for m in imported if m.startswith("caudal.") and m.endswith(".cli")} - {
        "caudal.cli"  # the command line's own package
    }
