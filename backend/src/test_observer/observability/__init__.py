"""Metrics, structured logs and tracing of the API."""
