"""Base C: per-CPF activity projections fed by the bus (very fast reads)."""
