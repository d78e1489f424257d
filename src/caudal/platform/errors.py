"""RFC 9457 problem details with stable `CAU-...` codes.

Domain code raises `CaudalError` subclasses (no HTTP import needed); the HTTP layer renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

PROBLEM_JSON = "application/problem+json"


@dataclass
class FieldError:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class CaudalError(Exception):
    """An error a client can act on. `code` is stable; `detail` is for humans."""

    code: str
    detail: str
    status: int = 400
    title: str = "Bad request"
    field: str | None = None
    errors: list[FieldError] = dc_field(default_factory=list)
    headers: dict[str, str] = dc_field(default_factory=dict)
    extra: dict[str, Any] = dc_field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://caudal.dev/problems/{self.code.lower()}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.field:
            body["field"] = self.field
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


def validation_error(field_name: str, code: str, message: str) -> CaudalError:
    return CaudalError(
        code=code,
        detail=message,
        status=422,
        title="Validation failed",
        field=field_name,
        errors=[FieldError(field_name, code, message)],
    )


def not_found(what: str, code: str = "CAU-NOT-FOUND") -> CaudalError:
    return CaudalError(code=code, detail=f"{what} not found", status=404, title="Not found")


def conflict(detail: str, code: str) -> CaudalError:
    return CaudalError(code=code, detail=detail, status=409, title="Conflict")


def unavailable(detail: str, retry_after_s: int = 5) -> CaudalError:
    return CaudalError(
        code="CAU-UNAVAILABLE",
        detail=detail,
        status=503,
        title="Service unavailable",
        headers={"Retry-After": str(retry_after_s)},
    )
