"""The HTTP application: factory, middleware, problem+json handlers, auth dependencies."""
