"""user-carts end to end on synthetic data: N carts x L lines served by a FakeStore-format API.

    .venv/bin/python bench/pipeline_user_carts.py [--carts 1000000] [--lines 3] [--users 100000]

The data is generated and served by child processes (`caudal fakestore serve --data DIR`), so
the figures are those of the pipeline alone: download (HTTP, streamed to disk), bronze copy,
DuckDB staging, quality gate, transform, warehouse load (DuckDB file), CSV + Parquet export.
Prints the wall time and this process's peak RSS (`resource.getrusage`). Targets: < 15 s and
< 1 GiB for 1,000,000 carts x 3 lines.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

GENERATE = r"""
import duckdb, json, shutil, sys
from pathlib import Path
from caudal.pipelines.fakestore.server import fixture_dir
out, carts, lines, users = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
shutil.copy(fixture_dir() / "products.json", out / "products.json")
users_list = [{"id": i, "username": f"u{i}"} for i in range(1, users + 1)]
(out / "users.json").write_text(json.dumps(users_list))
con = duckdb.connect()
con.execute(f'''
COPY (
    SELECT
        c AS id,
        1 + (hash(c) % {users}) AS userId,
        strftime(TIMESTAMP '2024-01-01' + to_seconds(hash(c * 7) % (180 * 86400)),
                 '%Y-%m-%dT%H:%M:%S.000Z') AS "date",
        list_transform(range({lines}), lambda i: {{
            'productId': 1 + (hash(c * 31 + i) % 20),
            'quantity': 1 + (hash(c * 17 + i) % 5)
        }}) AS products
    FROM range(1, {carts} + 1) t(c)
) TO '{out / "carts.json"}' (FORMAT json, ARRAY true)
''')
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--carts", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="caudal-bench-carts-"))
    data = work / "api"
    data.mkdir()
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            GENERATE,
            str(data),
            str(args.carts),
            str(args.lines),
            str(args.users),
        ],
        check=True,
    )
    size_mb = (data / "carts.json").stat().st_size / 1e6
    print(
        f"generated {args.carts:,} carts x {args.lines} lines, {args.users:,} users "
        f"({size_mb:.0f} MB of JSON) in {time.perf_counter() - started:.1f}s"
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "caudal",
            "fakestore",
            "serve",
            "--port",
            str(port),
            "--data",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{base}/products", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        run(work, base)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, base: str) -> None:
    from caudal.pipelines.model import RunRequest
    from caudal.pipelines.pipeline import build
    from caudal.platform.settings import PipelinesSettings, Settings

    settings = Settings(
        home=work / "home", pipelines=PipelinesSettings(fakestore_url=base, retention_days=0)
    )
    request = RunRequest(date(2024, 12, 31), "fakestore", "cli", "bench")
    steps: dict[str, float] = {}
    last = [time.perf_counter(), ""]

    def progress(step: str, detail: str) -> None:
        if step != last[1]:
            now = time.perf_counter()
            if last[1]:
                steps[str(last[1])] = now - float(last[0])
            last[0], last[1] = now, step

    started = time.perf_counter()
    outcome = build(settings, "", request).run("bench", request.run_date, progress)
    elapsed = time.perf_counter() - started
    steps[str(last[1])] = time.perf_counter() - float(last[0])
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"users out: {outcome.rows:,}")
    print("steps: " + ", ".join(f"{k} {v:.2f}s" for k, v in steps.items()))
    print(f"end to end: {elapsed:.2f} s (target < 15 s)")
    print(f"peak RSS: {peak_mib:.0f} MiB (target < 1024 MiB)")


if __name__ == "__main__":
    main()
