"""The `caudal` command line."""
