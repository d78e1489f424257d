"""Customers: Base A (PII, encrypted, audited), Base B (score data), Base C (activity per CPF)."""
