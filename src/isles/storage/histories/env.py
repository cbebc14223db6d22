"""Alembic's entry point for every history Isles runs; the work is in
:func:`isles.storage.migrations.run_env`."""

from isles.storage.migrations import run_env

run_env()
