"""Adapters from each capability's HTTP routes to what the pages show."""
