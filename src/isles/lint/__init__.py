"""`isles lint`: schema review of a service's tables and migrations against the
database-per-service rules (no cross-service foreign keys, tenancy, timestamps, …)."""
