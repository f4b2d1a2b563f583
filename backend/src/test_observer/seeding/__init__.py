"""Development and benchmark datasets (`test-observer seed`), imported by the CLI only."""
