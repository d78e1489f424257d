"""Every shell example of README.md and docs/*.md runs against one live `caudal up`.

The docs cannot drift from the behaviour: each fenced `bash` block is run, in file order, by
`bash` with `set -eo pipefail` against a real `caudal up` this test starts (its own CAUDAL_HOME,
a free port). The conventions the docs follow (README.md, "Examples"):

- the server is `localhost:8000` (rewritten here to the test's port);
- `$TOKEN` holds a token with every scope (the admin token `caudal up` prints);
- `caudal` (or `.venv/bin/caudal`) is the CLI, with the server's `CAUDAL_HOME`;
- `curl` fails on an HTTP error (here it runs with `--fail-with-body`), so a documented call
  that answers 4xx/5xx fails the example;
- variables a block sets (`ID=...`) are seen by the next blocks of the same file; using one
  that no earlier block set is an error (`set -u`);
- when a block is followed by a `json` block that parses, the block's output must be a JSON
  object with at least the documented top-level keys;
- a block that must not run (`make up`, a server that runs until Ctrl-C, production settings)
  is preceded by `<!-- docs-test: skip <reason> -->`; skipped blocks are counted and printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*docs-test:\s*skip\s+(?P<reason>.+?)\s*-->$")
DOC_HOSTS = re.compile(r"\b(?:localhost|127\.0\.0\.1):8000\b")
BLOCK_TIMEOUT_S = 90
OUTPUT_SHOWN = 4000

PRELUDE = """set -eo pipefail
if [ -f "$DOCS_STATE" ]; then source "$DOCS_STATE"; fi
set -u  # a variable no earlier block of the file set (say `$ID`) fails the example
curl() { command curl --fail-with-body --show-error "$@"; }
"""
# The variables a block leaves for the next blocks of its file (the shell's own excluded).
SHELL_VARIABLES = (
    "BASH.*|EUID|PPID|SHELLOPTS|UID|PWD|OLDPWD|SHLVL|PIPESTATUS|FUNCNAME|GROUPS|RANDOM|SECONDS"
    "|LINENO|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|IFS|PS4|OPTIND|OPTERR|COLUMNS|LINES|HISTCMD"
    "|EPOCH.*|SRANDOM|DIRSTACK"
)
EPILOGUE = f"""
__names=$(compgen -v | grep -E '^[A-Z][A-Z0-9_]*$' | grep -vE '^({SHELL_VARIABLES})$' || true)
if [ -n "$__names" ]; then declare -p $__names > "$DOCS_STATE" 2>/dev/null || true; fi
"""


@dataclass(frozen=True)
class Example:
    file: Path
    line: int  # of the opening fence, 1-based
    code: str
    skip: str | None
    documented: dict[str, object] | None  # the JSON block that follows, if it parses

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _closing(lines: list[str], start: int) -> int:
    end = start + 1
    while end < len(lines) and not lines[end].startswith("```"):
        end += 1
    return end


def _documented_json(lines: list[str], after: int) -> dict[str, object] | None:
    following = after + 1
    while following < len(lines) and not lines[following].strip():
        following += 1
    if following >= len(lines) or FENCE.match(lines[following]) is None:
        return None
    if lines[following].strip() != "```json":
        return None
    end = _closing(lines, following)
    try:
        parsed = json.loads("\n".join(lines[following + 1 : end]))
    except ValueError:
        return None  # an illustration with "…" placeholders: not comparable
    return parsed if isinstance(parsed, dict) else None


def examples(path: Path) -> list[Example]:
    lines = path.read_text("utf-8").splitlines()
    found: list[Example] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = _closing(lines, index)
        if fence.group(1) == "bash":
            before = index - 1
            while before >= 0 and not lines[before].strip():
                before -= 1
            marker = SKIP.match(lines[before].strip()) if before >= 0 else None
            found.append(
                Example(
                    file=path,
                    line=index + 1,
                    code="\n".join(lines[index + 1 : end]),
                    skip=marker.group("reason") if marker else None,
                    documented=_documented_json(lines, end),
                )
            )
        index = end + 1
    return found


def test_every_example_is_found_and_every_skip_says_why() -> None:
    every = [e for path in doc_files() for e in examples(path)]
    assert len(every) >= 30
    assert all(e.skip is None or len(e.skip) > 5 for e in every)


@dataclass
class Outcome:
    example: Example
    result: subprocess.CompletedProcess[str] | None
    problem: str | None
    seconds: float = 0.0


def _cli_dir(work: Path) -> Path:
    """`caudal` and `.venv/bin/caudal` as the docs write them, for this interpreter."""
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    launcher = bin_dir / "caudal"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m caudal "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _check(example: Example, result: subprocess.CompletedProcess[str]) -> str | None:
    if result.returncode != 0:
        return f"exit status {result.returncode}"
    if example.documented is None:
        return None
    try:
        actual = json.loads(result.stdout)
    except ValueError:
        return None  # several outputs, or not JSON: nothing to compare
    if not isinstance(actual, dict):
        return None
    missing = sorted(set(example.documented) - set(actual))
    return f"the output lacks the documented keys {missing}" if missing else None


def _report(outcome: Outcome) -> str:
    example, result = outcome.example, outcome.result
    text = [f"--- {example.where}: {outcome.problem}", example.code]
    if result is not None:
        text += [
            "stdout:",
            result.stdout[-OUTPUT_SHOWN:],
            "stderr:",
            result.stderr[-OUTPUT_SHOWN:],
        ]
    return "\n".join(text)


def _end_session(pid: int, grace_s: float = 5.0) -> None:
    """Stop what a block left running in its session (a timed-out command, a process sent to
    the background): SIGTERM first, so a `caudal` process lets go of the embedded PostgreSQL,
    then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _run_block(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one block in a session of its own, ended with the block (raises TimeoutExpired)."""
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _end_session(proc.pid)
        proc.communicate()
        raise
    _end_session(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.e2e
def test_every_documented_shell_example_runs(
    tmp_path: Path, home: Path, start_server: type[Server]
) -> None:
    """`home` checks no embedded PostgreSQL outlives the test, even when a block fails or
    times out; `start_server` stops the server if the test does not get to."""
    work = tmp_path / "work"
    work.mkdir()
    bin_dir = _cli_dir(work)
    server = start_server(
        CAUDAL_PIPELINES__SCHEDULE_ENABLED="false",
        CAUDAL_LEDGER__RECONCILE_ENABLED="false",
        CAUDAL_LAKE__FLUSH_MAX_SECONDS="1",
    )
    started = time.monotonic()
    outcomes: list[Outcome] = []
    try:
        server.wait_ready()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
        env.update(
            CAUDAL_HOME=str(home),
            CAUDAL_LAKE__FLUSH_MAX_SECONDS="1",
            TOKEN=server.admin_token(),
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            COLUMNS="100",
        )
        for path in doc_files():
            state = tmp_path / f"{path.stem}.state"  # one file's variables, from block to block
            for example in examples(path):
                if example.skip is not None:
                    outcomes.append(Outcome(example, None, None))
                    continue
                script = PRELUDE + DOC_HOSTS.sub(server.base_url[7:], example.code) + EPILOGUE
                began = time.monotonic()
                try:
                    result = _run_block(script, work, {**env, "DOCS_STATE": str(state)})
                except subprocess.TimeoutExpired:
                    outcomes.append(Outcome(example, None, f"timed out ({BLOCK_TIMEOUT_S}s)"))
                    continue
                took = time.monotonic() - began
                outcomes.append(Outcome(example, result, _check(example, result), took))
    finally:
        code = server.stop()
    ran = [o for o in outcomes if o.example.skip is None]
    skipped = [o.example for o in outcomes if o.example.skip is not None]
    failed = [o for o in ran if o.problem is not None]
    print(
        f"\ndocs examples: {len(ran)} run, {len(ran) - len(failed)} passed, {len(failed)} failed,"
        f" {len(skipped)} skipped, in {time.monotonic() - started:.0f}s"
    )
    for example in skipped:
        print(f"  skipped {example.where}: {example.skip}")
    for slow in sorted(ran, key=lambda o: -o.seconds)[:5]:
        print(f"  slowest {slow.example.where}: {slow.seconds:.1f}s")
    assert not failed, (
        f"{len(failed)} documented example(s) failed (file:line of the ```bash fence):\n\n"
        + "\n\n".join(_report(o) for o in failed)
    )
    assert code == 0, "caudal up did not stop cleanly:\n" + "\n".join(server.lines[-40:])
