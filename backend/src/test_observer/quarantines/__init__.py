"""Quarantined test cases: failures known and accepted for now, on some environments or all."""
