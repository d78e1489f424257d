"""The router: `routes.yaml` decides which sinks receive each canonical event."""
