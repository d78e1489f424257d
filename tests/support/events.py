"""Event payloads several test modules send, kept in one place."""

from __future__ import annotations

from typing import Any


def card_purchase(cpf: str) -> dict[str, Any]:
    """The `data` of a shipped `card-purchase` event (seed 002) for this CPF."""
    return {
        "cpf": cpf,
        "data_compra": "2026-01-02",
        "valor": "10.50",
        "bandeira_cartao": "VISA",
        "produto": "p",
        "tipo": "t",
        "codigo_transacao": "X1",
    }
