"""The audit trail: who changed what privileged thing, when, from what to what."""
