"""The platform's Alembic environment (``env.py``, ``script.py.mako``) shared by every
service's history, and the kernel tables' own history (``kernel/``)."""
