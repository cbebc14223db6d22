"""The ``isles`` command's entry: ``isles lint`` runs without importing the platform
(it starts in a tenth of the time); everything else is :mod:`isles.cli.main`."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "lint":
        from isles.lint.cli import app

        app(args=sys.argv[2:], prog_name="isles lint")
        return
    from isles.cli.main import main as full

    full()
