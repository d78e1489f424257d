"""Event ingestion: API, schema registry, quarantine, router and sinks (seeds 000 and 001)."""
