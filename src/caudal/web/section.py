"""One block of a page: its data, or why there is none (not available, no scope, an error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

State = Literal["ok", "unavailable", "forbidden", "error"]


@dataclass(frozen=True)
class Section:
    state: State
    value: Any = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @classmethod
    def of(cls, value: Any) -> Section:
        return cls("ok", value)

    @classmethod
    def unavailable(cls, what: str) -> Section:
        return cls(
            "unavailable",
            message=f"{what} is not available on this server yet "
            "(its capability is not installed or not running).",
        )

    @classmethod
    def forbidden(cls, scope: str) -> Section:
        return cls(
            "forbidden",
            message=f"Your session lacks the scope '{scope}' needed to see this. "
            "Sign in with a token that holds it (`caudal token --scope " + scope + "`).",
        )

    @classmethod
    def error(cls, message: str) -> Section:
        return cls("error", message=message)
