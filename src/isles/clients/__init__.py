"""Calling out: other services over HTTP (timeouts, retries, a circuit breaker,
service tokens) and mail over SMTP."""
