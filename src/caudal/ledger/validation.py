"""Every rule an impact must pass before it is accepted, each with its own stable error code.

Pure functions: the caller supplies the event codes and today's date (UTC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from caudal.ledger.model import CREDIT, DEBIT, EventCode, Impact
from caudal.platform.decimals import DecimalSyntaxError, parse_decimal
from caudal.platform.errors import FieldError
from caudal.platform.instants import to_utc
from caudal.platform.uuid_text import canonical_uuid

# Stable error codes (docs/ledger.md lists them with examples).
REQUIRED = "CAU-LEDGER-REQUIRED"
UNKNOWN_FIELD = "CAU-LEDGER-UNKNOWN-FIELD"
NOT_OBJECT = "CAU-LEDGER-IMPACT-NOT-OBJECT"
BRANCH_INVALID = "CAU-LEDGER-BRANCH-INVALID"
ACCOUNT_INVALID = "CAU-LEDGER-ACCOUNT-INVALID"
DEBITCREDIT_INVALID = "CAU-LEDGER-DEBITCREDIT-INVALID"
AMOUNT_INVALID = "CAU-LEDGER-AMOUNT-INVALID"
AMOUNT_NOT_POSITIVE = "CAU-LEDGER-AMOUNT-NOT-POSITIVE"
AMOUNT_SCALE = "CAU-LEDGER-AMOUNT-SCALE"
AMOUNT_TOO_LARGE = "CAU-LEDGER-AMOUNT-TOO-LARGE"
DESCRIPTION_TOO_LONG = "CAU-LEDGER-DESCRIPTION-TOO-LONG"
DETAILS_NOT_OBJECT = "CAU-LEDGER-DETAILS-NOT-OBJECT"
DETAILS_INVALID_JSON = "CAU-LEDGER-DETAILS-INVALID-JSON"
TRACEKEY_INVALID = "CAU-LEDGER-TRACEKEY-INVALID"
EVENTCODE_INVALID = "CAU-LEDGER-EVENTCODE-INVALID"
EVENT_UNKNOWN = "CAU-LEDGER-EVENT-UNKNOWN"
EVENT_INACTIVE = "CAU-LEDGER-EVENT-INACTIVE"
EVENT_SIDE_NOT_ALLOWED = "CAU-LEDGER-EVENT-SIDE-NOT-ALLOWED"
DATEREF_INVALID = "CAU-LEDGER-DATEREF-INVALID"
DATEREF_FUTURE = "CAU-LEDGER-DATEREF-FUTURE"
DATEREF_TOO_OLD = "CAU-LEDGER-DATEREF-TOO-OLD"
TRACEKEY_CONFLICT = "CAU-LEDGER-TRACEKEY-CONFLICT"
BATCH_EMPTY = "CAU-LEDGER-BATCH-EMPTY"
BATCH_TOO_LARGE = "CAU-LEDGER-BATCH-TOO-LARGE"
BODY_INVALID = "CAU-LEDGER-BODY-INVALID"

FIELDS = (
    "tracekey",
    "branch",
    "account",
    "amount",
    "debitcredit",
    "eventcode",
    "description",
    "details",
    "dateref",
)
REQUIRED_FIELDS = ("tracekey", "branch", "account", "amount", "debitcredit", "eventcode", "dateref")
# Branch and account are text (virtual accounts are allowed, seed 003) but travel in URL paths.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_DESCRIPTION = 200
MAX_AMOUNT = Decimal("9999999999999.99")  # numeric(15,2)


@dataclass(frozen=True)
class Rules:
    today: date  # UTC
    backdate_days: int

    @cached_property
    def earliest(self) -> date:
        """Computed once per `Rules` (a request's impacts each ask for it)."""
        return self.today - timedelta(days=self.backdate_days)


def parse_date(value: Any) -> date | None:
    """`2024-03-16`, `2024-03-16T00:00:00` or with an offset (`...-0300`: its UTC date)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return to_utc(moment).date()
    except ValueError:  # InstantRangeError too: past year 9999 in UTC
        return None


def parse_amount(value: Any) -> Decimal | None:
    """The platform's strict decimal grammar (no exponent, blanks, separators, non-ASCII)."""
    try:
        return parse_decimal(value)
    except DecimalSyntaxError:
        return None


def check_shape(raw: Any) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Everything that needs no database: types, formats, sizes. Returns the normalised
    fields (or None) and the errors, every one of them."""
    fields, errors = parse(raw)
    return (fields if not errors else None), errors


def parse(raw: Any) -> tuple[dict[str, Any], list[FieldError]]:
    """The fields that are well formed, normalised (even when others are not, so the rules
    that need the database can still be judged and every error reported), and the errors."""
    if not isinstance(raw, dict):
        return {}, [FieldError("", NOT_OBJECT, "an impact is a JSON object")]
        return None, [FieldError("", NOT_OBJECT, "an impact is a JSON object")]
    errors: list[FieldError] = [
        FieldError(name, UNKNOWN_FIELD, f"unknown field {name!r}; allowed: {', '.join(FIELDS)}")
        for name in raw
        if name not in FIELDS
    ]
    errors += [
        FieldError(name, REQUIRED, f"{name} is required")
        for name in REQUIRED_FIELDS
        if raw.get(name) is None or raw.get(name) == ""
    ]
    missing = {e.field for e in errors if e.code == REQUIRED}
    out: dict[str, Any] = {}

    if "tracekey" not in missing:
        try:
            out["tracekey"] = canonical_uuid(raw["tracekey"])
        except ValueError:
            errors.append(FieldError("tracekey", TRACEKEY_INVALID, "tracekey must be a UUID"))
    for name, code in (("branch", BRANCH_INVALID), ("account", ACCOUNT_INVALID)):
        if name in missing:
            continue
        value = raw[name]
        if isinstance(value, str) and _IDENTIFIER.match(value):
            out[name] = value
        else:
            errors.append(
                FieldError(name, code, f"{name}: 1 to 40 letters, digits, '.', '_' or '-' (text)")
            )
    if "debitcredit" not in missing:
        if raw["debitcredit"] in (DEBIT, CREDIT):
            out["debitcredit"] = raw["debitcredit"]
        else:
            errors.append(
                FieldError("debitcredit", DEBITCREDIT_INVALID, "debitcredit must be 'D' or 'C'")
            )
    if "amount" not in missing:
        amount = parse_amount(raw["amount"])
        if amount is None:
            errors.append(
                FieldError(
                    "amount",
                    AMOUNT_INVALID,
                    "amount must be a plain decimal such as 10.50 (ASCII digits, no exponent)",
                )
            )
        elif amount <= 0:
            errors.append(FieldError("amount", AMOUNT_NOT_POSITIVE, "amount must be > 0"))
        elif amount != amount.quantize(Decimal("0.01")):
            errors.append(FieldError("amount", AMOUNT_SCALE, "amount has at most 2 decimals"))
        elif amount > MAX_AMOUNT:
            errors.append(FieldError("amount", AMOUNT_TOO_LARGE, f"amount must be <= {MAX_AMOUNT}"))
        else:
            out["amount"] = amount.quantize(Decimal("0.01"))
    if "eventcode" not in missing:
        number: Any = raw["eventcode"]
        if isinstance(number, str) and number.strip().isdigit():
            number = int(number)
        if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 2**31:
            out["eventcode"] = number
        else:
            errors.append(
                FieldError("eventcode", EVENTCODE_INVALID, "eventcode must be a positive integer")
            )
    description = raw.get("description")
    if description is None:
        out["description"] = ""
    elif not isinstance(description, str):
        errors.append(FieldError("description", REQUIRED, "description must be text"))
    elif len(description) > MAX_DESCRIPTION:
        errors.append(
            FieldError(
                "description",
                DESCRIPTION_TOO_LONG,
                f"description has at most {MAX_DESCRIPTION} characters",
            )
        )
    else:
        out["description"] = description
    details = raw.get("details")
    if details is None:
        out["details"] = {}
    elif isinstance(details, dict):
        out["details"] = details
    else:
        errors.append(FieldError("details", DETAILS_NOT_OBJECT, "details must be a JSON object"))
    if "dateref" not in missing:
        parsed = parse_date(raw["dateref"])
        if parsed is None:
            errors.append(
                FieldError("dateref", DATEREF_INVALID, "dateref must be a date (YYYY-MM-DD)")
            )
        else:
            out["dateref"] = parsed
    return out, errors


def check_rules(
    fields: Mapping[str, Any], events: Mapping[int, EventCode], rules: Rules
) -> list[FieldError]:
    """The rules that need the event codes and the clock, for the fields that are well formed."""
    errors: list[FieldError] = []
    event = events.get(int(fields["eventcode"])) if "eventcode" in fields else None
    if "eventcode" not in fields:
        pass
    elif event is None:
        errors.append(
            FieldError(
                "eventcode", EVENT_UNKNOWN, f"event code {fields['eventcode']} does not exist"
            )
        )
    elif not event.active:
        errors.append(
            FieldError("eventcode", EVENT_INACTIVE, f"event code {event.code} is inactive")
        )
    elif "debitcredit" in fields and not event.allows(str(fields["debitcredit"])):
        side = "debit" if fields["debitcredit"] == DEBIT else "credit"
        errors.append(
            FieldError(
                "eventcode",
                EVENT_SIDE_NOT_ALLOWED,
                f"event code {event.code} does not allow a {side}",
            )
        )
    dateref: date | None = fields.get("dateref")
    if dateref is None:
        pass
    elif dateref > rules.today:
        errors.append(
            FieldError("dateref", DATEREF_FUTURE, f"dateref {dateref} is after today (UTC)")
        )
    elif dateref < rules.earliest:
        errors.append(
            FieldError(
                "dateref",
                DATEREF_TOO_OLD,
                f"dateref {dateref} is more than {rules.backdate_days} days back",
            )
        )
    return errors


def build(fields: Mapping[str, Any]) -> Impact:
    return Impact(
        tracekey=str(fields["tracekey"]),
        branch=str(fields["branch"]),
        account=str(fields["account"]),
        amount=fields["amount"],
        debitcredit="D" if fields["debitcredit"] == DEBIT else "C",
        eventcode=int(fields["eventcode"]),
        dateref=fields["dateref"],
        description=str(fields["description"]),
        details=dict(fields["details"]),
    )


def posting_rejection(impact: Impact, events: Mapping[int, EventCode]) -> tuple[str, str] | None:
    """Re-checked by the posting engine: the event code may have changed since acceptance.
    (The back-dating window is judged once, at acceptance: a late worker never rejects.)"""
    event = events.get(impact.eventcode)
    if event is None:
        return EVENT_UNKNOWN, f"event code {impact.eventcode} does not exist"
    if not event.active:
        return EVENT_INACTIVE, f"event code {event.code} is inactive"
    if not event.allows(impact.debitcredit):
        side = "debit" if impact.debitcredit == DEBIT else "credit"
        return EVENT_SIDE_NOT_ALLOWED, f"event code {event.code} does not allow a {side}"
    return None
