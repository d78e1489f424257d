"""Base A: the customers' PII, encrypted by the application and audited on every access."""
