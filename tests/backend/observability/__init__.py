"""Metrics, request logs and tracing."""
