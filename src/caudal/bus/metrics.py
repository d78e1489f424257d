"""Prometheus metrics of the bus (default registry, exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PUBLISHED = Counter(
    "caudal_bus_published_messages_total", "Messages appended to the bus, by topic.", ["topic"]
)
HANDLED = Counter(
    "caudal_bus_handled_messages_total",
    "Messages delivered to a consumer group, by outcome (ok, failed, dead_letter, redriven).",
    ["group", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "caudal_bus_handle_seconds",
    "Time a consumer group's handler took per batch.",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG = Gauge(
    "caudal_bus_lag_messages",
    "Messages published to a group's topics and not yet handled by it (updated by its workers).",
    ["group"],
)
PARTITIONS_OWNED = Gauge(
    "caudal_bus_partitions_owned",
    "Partitions of a group leased by the workers of this process.",
    ["group"],
)
OUTBOX_MESSAGES = Gauge(
    "caudal_bus_outbox_messages",
    "Messages committed to the transactional outbox (NATS bus) and not yet forwarded to "
    "JetStream by the relay.",
)
OUTBOX_OLDEST_AGE = Gauge(
    "caudal_bus_outbox_oldest_age_seconds",
    "Age of the oldest message waiting in the outbox for the relay (0 when it is empty).",
)
