"""The ``isles lint`` command. It imports only the linter (not the platform), so a
lint of files starts fast; ``isles-lint`` is the same command for projects that are
not on Isles. Without paths it lints an Isles system's own services."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from isles.lint import config as lint_config
from isles.lint import engine, report
from isles.lint.model import LintInputError, Project


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(2)


def _system_services(spec: str, service: str | None, project: Project) -> None:
    from isles.lint.isles_source import read_service

    module_name, _, attr = spec.partition(":")
    try:
        target: Any = getattr(importlib.import_module(module_name), attr or "build")
    except (ImportError, AttributeError) as exc:
        raise LintInputError(f"--system {spec!r}: cannot load it: {exc}") from exc
    system = target() if callable(target) else target
    services = [s for s in getattr(system, "services", ()) if service is None or s.name == service]
    if not services:
        raise LintInputError(f"--system {spec!r}: no service {service!r}" if service else f"{spec!r}: no services")
    for svc in services:
        read_service(svc, project, Path.cwd())


def lint(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="SQL (.sql) and Prisma (.prisma) files or folders. None: the system's own services."),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            "-s",
            help="The service the files or the database belong to (default: the config file's paths, a Prisma "
            "file's folder, a table's schema).",
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Lint a live database (introspected) of --service.")
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            envvar="ISLES_SYSTEM",
            help="module:function building the System (or `isles --system X lint`; default hrms.system:build).",
        ),
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="isles-lint.toml (default: looked up from the current folder).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, sarif, github or markdown.")] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here (default: stdout).")
    ] = None,
) -> None:
    """A database lead's review, automated: naming, keys and indexes, no
    cross-service foreign keys, reversible migrations, breaking changes, index builds.
    Exit code 0: no errors; 1: errors; 2: bad input.

    Example: isles lint migrations/ --service users --format sarif -o lint.sarif
    """
    if fmt not in report.FORMATS:
        raise _fail(f"--format {fmt!r}: one of {', '.join(report.FORMATS)}")
    try:
        config = lint_config.load(config_file or lint_config.find(Path.cwd()))
        project = Project()
        project.owners.update(config.owners())
        if database_url:
            if not service:
                raise LintInputError("--database-url needs --service (whose database it is)")
            from isles.lint.live import read_database

            read_database(database_url, service, project)
        if paths:
            engine.read_files(paths, service=service, config=config, project=project)
        if not paths and not database_url:
            # `isles --system shop lint` names the system before the command
            given = ctx.parent.params.get("system") if ctx.parent is not None else None
            _system_services(system or given or "hrms.system:build", service, project)
        findings = engine.lint(project, config)
    except LintInputError as exc:
        raise _fail(str(exc)) from exc
    text = report.render(findings, fmt, files=project.files)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"--output {output}: {exc.strerror}") from exc
        sys.stderr.write(report.text(findings, project.files).splitlines()[-1] + f"; report in {output}\n")
    else:
        sys.stdout.write(text)
    raise typer.Exit(engine.exit_code(findings))


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(lint)


def main() -> None:
    app(prog_name="isles-lint")
