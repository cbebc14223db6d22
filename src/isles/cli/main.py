"""The ``isles`` command line: one module per command group, all on one app."""

from __future__ import annotations

import sys

# isort: off
# Each module registers its commands on the app; in this order they are listed.
from isles.cli import run  # noqa: F401
from isles.cli import databases  # noqa: F401
from isles.cli import dlq  # noqa: F401
from isles.cli import sagas  # noqa: F401
from isles.cli import keys  # noqa: F401

# isort: on
from isles.cli.common import app
from isles.lint.cli import lint as lint_command

__all__ = ["app", "main"]

app.command("lint")(lint_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
