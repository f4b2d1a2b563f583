"""Failure signatures: what a failed result's output says went wrong, reduced to a stable key."""
