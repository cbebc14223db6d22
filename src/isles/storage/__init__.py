"""A service's own database: engines (SQLite on the loop's thread, PostgreSQL), the
kernel tables and their migrations, tenancy and row-level security, the unit of work,
the outbox, dead letters, provisioning and LISTEN/NOTIFY wake-ups."""
