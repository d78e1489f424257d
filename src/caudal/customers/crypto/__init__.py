"""Application-level encryption of PII: envelope keys, blind indexes, key files."""
