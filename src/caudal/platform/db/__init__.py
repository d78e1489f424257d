"""PostgreSQL access: embedded server, connection URLs, pool, versioned migrations."""
