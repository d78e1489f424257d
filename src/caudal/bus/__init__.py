"""The durable bus: a port with one adapter per backend (PostgreSQL now; NATS JetStream next)."""
