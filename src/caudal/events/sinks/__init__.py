"""Sinks the router delivers events to; each is idempotent on the event id."""
