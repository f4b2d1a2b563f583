"""How `test-observer serve` runs its processes: how many, and how none outlives it."""
