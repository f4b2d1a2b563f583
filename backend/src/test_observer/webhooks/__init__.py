"""Outbound webhooks: subscriptions, the outbox of events, and what deliveries look like.

`events.py` is the outbox writer the other domains call inside their transaction; the job
worker sends the deliveries (`jobs/deliver_webhooks.py`) through `targets.py` (which addresses
may be reached) and `payloads.py` (bodies and signatures).
"""
