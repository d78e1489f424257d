"""Regular expressions from outside (a registered schema's `pattern`) run on RE2.

Python's `re` backtracks: `^(a+)+$` against 26 `a` and a `!` held the whole process for
seconds, and it never releases the GIL, so no thread or timeout helps. RE2 answers in time linear
in the input and refuses what it cannot do that way (backreferences, lookarounds): such a pattern
is refused when it is registered, never half-supported.
"""

from __future__ import annotations

from typing import Protocol, cast

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information


class Matcher(Protocol):
    def search(self, text: str) -> object | None: ...


class PatternError(ValueError):
    """RE2 cannot compile the pattern; the message says why."""


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the refusal is ours to report, not a line on stderr


def compile_linear(pattern: str) -> Matcher:
    try:
        return cast(Matcher, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "unsupported syntax"
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise PatternError(text) from None
