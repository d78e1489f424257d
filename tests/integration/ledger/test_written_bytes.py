"""What the posting engine writes, byte for byte: the callback rows of `bus.messages` (payload
and headers as the `json` text stored, key, partition, id, kind columns), the journal, the
rejections and the balances, for a batch that posts and rejects (several accounts and days,
unicode descriptions and details, amounts with cents) and a batch posted impact by impact.

The expected rows (`golden/written_rows.json`) were written by the engine of main before the
callbacks were built any other way: any drift in what a sink or a statement reads fails here.
Only the instants are not pinned as values (`occurred_at` is the journal's `createdat`,
`received_at` the posting's clock): each is checked against its source and its format, then
replaced by a placeholder. To write the file again from the engine under test (a deliberate
change of the rows): `CAUDAL_WRITE_GOLDEN=1 pytest tests/integration/ledger/test_written_bytes.py`.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from caudal.ledger.engine import Posting, PostingEngine
from caudal.ledger.model import Rejection
from caudal.platform.bootstrap import Container

GOLDEN = Path(__file__).parent / "golden" / "written_rows.json"
_NS = uuid.UUID("0b5c7d3e-8f61-4d2a-9c0e-5a4f3b2d1e6f")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00")


def _id(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


def _posting(n: int, branch: str, account: str, amount: str, side: str, **extra: Any) -> Posting:
    payload = {
        "tracekey": _id(f"tracekey-{n}"),
        "transaction_id": _id(f"transaction-{n}"),
        "branch": branch,
        "account": account,
        "amount": amount,
        "debitcredit": side,
        "eventcode": extra.get("eventcode", 5),
        "dateref": extra.get("dateref", "2026-11-30"),
        "description": extra.get("description", ""),
        "details": extra.get("details", {}),
    }
    return Posting.from_payload(payload)


def _batch() -> tuple[list[Posting], list[Rejection]]:
    """Posted: three accounts over four days, cents, unicode; rejected: a side the event code
    refuses, an unknown event code, an unreadable impact."""
    postings = [
        _posting(
            1, "0001", "000000001", "1234.56", "C", description="Depósito em espécie — café ☕"
        ),
        _posting(2, "0001", "000000001", "0.01", "D", dateref="2026-11-28", details={"pdv": 7}),
        _posting(3, "0001", "000000002", "10", "C", dateref="2026-11-29", description="日本語"),
        _posting(
            4, "0002", "123456789", "3.1", "D", details={"nota": "ç", "itens": [1, 2.5, None]}
        ),
        _posting(5, "0001", "000000001", "9999999.99", "C", dateref="2026-12-01"),
        _posting(6, "0002", "123456789", "77.70", "C", eventcode=7, description='PIX 🇧🇷 "aspas"'),
        _posting(7, "0001", "000000002", "5.05", "D", eventcode=1, description="venda à vista"),
        _posting(8, "0002", "123456789", "12.34", "C", eventcode=99, details={"x": "y"}),
        _posting(1, "0001", "000000001", "1234.56", "C", description="a redelivered copy"),
    ]
    malformed = [Rejection(_id("tracekey-9"), "CAU-LEDGER-MALFORMED", "ilegível: ‘amount’")]
    return postings, malformed


def _isolated_batch() -> list[Posting]:
    """A batch whose second impact's reserved id is taken (posted impact by impact)."""
    taken = _posting(11, "0003", "000000011", "2.00", "C", dateref="2026-11-27")
    return [
        _posting(10, "0003", "000000011", "40.00", "C", dateref="2026-11-27", description="ñ"),
        Posting(taken.impact, _id("transaction-1")),
        _posting(12, "0003", "000000011", "0.99", "D", dateref="2026-11-27"),
    ]


def _instant(text: str, since: datetime, until: datetime) -> None:
    assert _INSTANT.fullmatch(text), text
    assert since <= datetime.fromisoformat(text) <= until


async def _rows(opened: Container, since: datetime, until: datetime) -> dict[str, Any]:
    async with opened.database.connection() as conn:
        cur = await conn.execute(
            "SELECT tracekey::text, createdat FROM ledger.transaction ORDER BY seq"
        )
        createdat = {k: at.astimezone(UTC).isoformat() for k, at in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT topic, key, partition, message_id, payload::text, headers::text,"
            " kind_source, kind_type, kind_version FROM bus.messages ORDER BY seq"
        )
        messages = []
        for *columns, payload, headers, ks, kt, kv in await cur.fetchall():
            fields = json.loads(payload)
            if fields["type"] == "ledger.posted":
                assert fields["occurred_at"] == createdat[fields["trace_key"]]
            else:
                _instant(fields["occurred_at"], since, until)
            _instant(fields["received_at"], since, until)
            for name in ("occurred_at", "received_at"):
                payload = payload.replace(f'"{name}":"{fields[name]}"', f'"{name}":"<{name}>"', 1)
            messages.append([*columns, payload, headers, ks, kt, kv])
        cur = await conn.execute(
            "SELECT id::text, branch, account, amount::text, debitcredit, eventcode, description,"
            " tracekey::text, details::text, dateref::text FROM ledger.transaction ORDER BY seq"
        )
        journal = [list(r) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT tracekey::text, code, reason FROM ledger.rejection ORDER BY tracekey"
        )
        rejections = [list(r) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT branch, account, dateref::text, totaldebit::text, totalcredit::text,"
            " acumulateddebit::text, acumulatedcredit::text, tracekey::text"
            " FROM ledger.balance ORDER BY branch, account, dateref"
        )
        balances = [list(r) for r in await cur.fetchall()]
    return {
        "messages": messages,
        "journal": journal,
        "rejections": rejections,
        "balances": balances,
    }


async def test_the_rows_written_are_the_golden_ones(
    engine: PostingEngine, opened: Container
) -> None:
    since = datetime.now(UTC)
    postings, malformed = _batch()
    await engine.post(postings, malformed)
    await engine.post(_isolated_batch())
    rows = await _rows(opened, since, datetime.now(UTC))
    if os.environ.get("CAUDAL_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    assert rows == json.loads(GOLDEN.read_text())
