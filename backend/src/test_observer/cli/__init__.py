"""The `test-observer` command, one module per command group (see `main`)."""
