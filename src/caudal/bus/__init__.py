"""The durable bus: a port with one adapter per backend (PostgreSQL, NATS JetStream, memory)."""
