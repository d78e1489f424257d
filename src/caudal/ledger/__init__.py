"""Cash-flow ledger (seed 003): asynchronous idempotent postings, daily balances."""
