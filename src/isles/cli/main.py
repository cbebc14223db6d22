"""The ``isles`` command line: one module per command group, all on one app."""

from __future__ import annotations

import inspect
import sys

# isort: off
# Each module registers its commands on the app; in this order they are listed.
from isles.cli import run  # noqa: F401
from isles.cli import databases  # noqa: F401
from isles.cli import dlq  # noqa: F401
from isles.cli import sagas  # noqa: F401
from isles.cli import keys  # noqa: F401
from isles.cli import nats  # noqa: F401
from isles.cli import certs  # noqa: F401
from isles.cli import jobs  # noqa: F401
from isles.cli import projections  # noqa: F401
from isles.cli import readmodels  # noqa: F401
from isles.cli import datamap  # noqa: F401
from isles.cli import audit  # noqa: F401
from isles.cli import split  # noqa: F401
from isles.cli import backup  # noqa: F401
from isles.cli import reconcile  # noqa: F401

# isort: on
import typer

from isles.cli.common import COMMON_HELP, app
from isles.lint.cli import lint as lint_command

__all__ = ["app", "main"]

app.command("lint")(lint_command)


def _keep_examples(doc: str) -> str:
    """Help as written: a paragraph of examples keeps its lines (click's ``\\b``)."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    kept = ["\b\n" + p if p.startswith(("Example", "Then")) else p for p in paragraphs]
    return "\n\n".join(kept)


def _finish_help(typer_app: typer.Typer) -> None:
    """Each command's help keeps its example lines and ends by naming the options
    every command takes."""
    for command in typer_app.registered_commands:
        if command.name != "lint":
            command.epilog = command.epilog or COMMON_HELP
        if command.callback is not None and command.callback.__doc__:
            command.callback.__doc__ = _keep_examples(command.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _finish_help(group.typer_instance)


_finish_help(app)


#: Errors of the configuration a command may meet wherever it opens a database or a
#: key (a URL of a database Isles does not run on, a service without its data key):
#: one line and exit 2, as the commands that check for them say it, never a traceback.
#: By module and name, so that ``isles --help`` imports neither.
CONFIG_ERRORS = (("isles.storage.db", "DatabaseConfigError"), ("isles.storage.crypto", "DataKeyError"))


def main() -> None:
    try:
        app(prog_name="isles")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        kinds = [getattr(sys.modules.get(module), name, None) for module, name in CONFIG_ERRORS]
        if not any(isinstance(kind, type) and isinstance(exc, kind) for kind in kinds):
            raise
        from isles.cli.common import err

        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
