"""`caudal demo`: realistic live traffic through the HTTP API, so the dashboard moves."""
