"""The bus port every capability publishes and consumes through; adapters live in `caudal.bus`."""
