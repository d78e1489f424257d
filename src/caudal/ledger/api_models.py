"""The response shapes of the ledger APIs (`/v1/ledger`, FlowApi's `/api`), as published in
the OpenAPI document. Money is an exact decimal string in `/v1/ledger` and a JSON number with
two decimals in FlowApi (its original shape)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Money = str  # "1234.50": exact, never through a float
Status = Literal["pending", "posted", "rejected"]


class ImpactState(BaseModel):
    tracekey: str
    status: Status
    accepted_at: str
    transaction_id: str | int | None = Field(default=None, description="When posted.")
    posted_at: str | None = Field(default=None, description="When posted.")
    code: str | None = Field(default=None, description="When rejected: why, stable.")
    reason: str | None = Field(default=None, description="When rejected: why, for humans.")
    rejected_at: str | None = Field(default=None, description="When rejected.")


class ItemError(BaseModel):
    field: str
    code: str
    message: str


class BatchItem(BaseModel):
    """One impact of a batch: its state once accepted, else why it was not."""

    index: int
    tracekey: str | None
    status: Literal["pending", "posted", "rejected", "invalid", "conflict"]
    accepted_at: str | None = None
    transaction_id: str | int | None = None
    posted_at: str | None = None
    code: str | None = None
    reason: str | None = None
    rejected_at: str | None = None
    errors: list[ItemError] | None = None


class BatchAnswer(BaseModel):
    counts: dict[str, int] = Field(description="Impacts per status.")
    results: list[BatchItem]


class BalanceOut(BaseModel):
    branch: str
    account: str
    date: str
    totaldebit: Money
    totalcredit: Money
    acumulateddebit: Money
    acumulatedcredit: Money
    balance: Money
    last_movement_date: str | None


class StatementEntry(BaseModel):
    id: str
    tracekey: str
    dateref: str
    eventcode: int
    eventdescription: str | None
    description: str | None
    debitcredit: Literal["D", "C"]
    amount: Money
    details: Any
    createdat: str
    balance: Money = Field(description="Running balance after this entry.")


class Statement(BaseModel):
    model_config = {"populate_by_name": True}

    branch: str
    account: str
    from_: str = Field(alias="from")
    to: str
    opening_balance: Money
    items: list[StatementEntry]
    next_cursor: str | None


class ConsolidatedItem(BalanceOut):
    """One account's day in the consolidated report: the balance route's shape."""


class Consolidated(BaseModel):
    date: str
    items: list[ConsolidatedItem]
    next_cursor: str | None


class EventCode(BaseModel):
    code: int
    active: bool
    description: str
    allowdebit: bool
    allowcredit: bool


class EventCodes(BaseModel):
    items: list[EventCode]


# ---- FlowApi (seed 003): camelCase, as llisboa/FlowApi answers


class FlowAdded(BaseModel):
    id: int | str | None = Field(description="The id the transaction gets when posted.")
    traceKey: str


class FlowTransaction(BaseModel):
    id: str
    branch: str
    account: str
    amount: float
    debitCredit: Literal["D", "C"]
    eventCode: int
    description: str | None
    traceKey: str
    details: str | None
    dateRef: str
    createdAt: str


class FlowAccumulated(BaseModel):
    dateRef: str
    eventCode: int
    eventDescription: str | None
    transactionDescription: str | None
    beforeBalance: float
    debit: float
    credit: float
    acumulated: float
    createdAt: str
    id: str


class FlowBalance(BaseModel):
    id: str
    branch: str
    account: str
    dateRef: str
    totalDebit: float
    totalCredit: float
    acumulatedDebit: float
    acumulatedCredit: float
    acumulatedBalance: float
    createdAt: str
    traceKey: str | None
