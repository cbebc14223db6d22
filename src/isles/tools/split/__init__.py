"""``isles split``: take a monolith's SQLite database apart into a system's services.

:mod:`.analyse` reads the monolith (tables, relations declared and inferred, anomalies);
:mod:`.plan` proposes a plan (TOML, edited by hand) from the analysis and the target
system, and checks it.
"""

from __future__ import annotations


class SplitError(Exception):
    """A bad input (a file that is not SQLite, a plan that is not TOML): one line saying
    what and where."""
