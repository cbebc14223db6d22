"""The ``isles`` command line."""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from isles import migrations
from isles.db import DatabaseConfigError
from isles.logging import configure as configure_logging
from isles.runtime import System, SystemRuntime
from isles.serving import run_server
from isles.settings import IslesSettings

app = typer.Typer(
    help="Isles: microservices with a database per service.\n\nExample: isles up --port 8010 --data-dir /tmp/hrms",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
migrate_app = typer.Typer(
    help="Per-service database migrations (one Alembic history per service).", no_args_is_help=True
)
app.add_typer(migrate_app, name="migrate")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DEFAULT_SYSTEM = "hrms.system:build"
SystemOpt = Annotated[str, typer.Option("--system", envvar="ISLES_SYSTEM", help="module:function building the System.")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where SQLite databases live [env ISLES_DATA_DIR].")
]
DbUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="URL template with {service}, e.g. postgresql+asyncpg://postgres@127.0.0.1/hrms_{service}"
        " [env ISLES_DATABASE_URL].",
    ),
]
ServiceOpt = Annotated[str | None, typer.Option("--service", "-s", help="Only this service (default: all).")]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def load_system(spec: str) -> System:
    module_name, _, attr = spec.partition(":")
    try:
        target: Any = getattr(importlib.import_module(module_name), attr or "build")
    except (ImportError, AttributeError) as exc:
        raise fail(f"cannot load system {spec!r}: {exc}") from exc
    system = target() if callable(target) else target
    if not isinstance(system, System):
        raise fail(f"{spec!r} did not give an isles System")
    return system


def make_settings(data_dir: Path | None, database_url: str | None, **more: Any) -> IslesSettings:
    overrides: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    try:
        return IslesSettings(**overrides)
    except ValueError as exc:
        raise fail(f"bad settings: {exc}") from exc


def make_runtime(system_spec: str, data_dir: Path | None, database_url: str | None) -> SystemRuntime:
    system = load_system(system_spec)
    settings = make_settings(data_dir, database_url)
    try:
        return SystemRuntime(system, settings)
    except DatabaseConfigError as exc:
        raise fail(str(exc)) from exc


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@app.command()
def up(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the gateway.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
    system: SystemOpt = DEFAULT_SYSTEM,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Load demo data on first start.")] = True,
    log_level: Annotated[str, typer.Option(envvar="ISLES_LOG_LEVEL", help="debug, info, warning, error.")] = "warning",
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="Every service as its own process on PostgreSQL and NATS JetStream, the gateway in front.",
        ),
    ] = False,
    nats_url: Annotated[str | None, typer.Option(help="NATS server for --distributed [env ISLES_NATS_URL].")] = None,
    log_dir: Annotated[
        Path | None, typer.Option(help="With --distributed: write each service's log to DIR/<service>.log.")
    ] = None,
) -> None:
    """Run the whole system in one process: every service on its own database
    (SQLite files by default), the embedded bus, and the gateway on one port.
    With --distributed: the production topology on this machine.

    Example: isles up --port 8010 --data-dir /tmp/hrms
    Example: isles up --distributed --database-url postgresql+asyncpg://postgres@127.0.0.1/hrms_{service}
    """
    configure_logging(log_level, os.environ.get("ISLES_LOG_FORMAT", "console"))
    if not _port_free(host, port):
        raise fail(f"port {port} on {host} is in use; choose another with --port")
    if distributed:
        from isles.distributed import run_distributed

        settings = make_settings(None, database_url, nats_url=nats_url)
        code = asyncio.run(
            run_distributed(
                load_system(system),
                system,
                settings,
                host=host,
                port=port,
                demo=demo,
                log_level=log_level,
                log_dir=log_dir,
                out=out,
            )
        )
        if code:
            raise fail(code, code=1)
        return
    runtime = make_runtime(system, data_dir, database_url)
    asyncio.run(_serve(runtime, host=host, port=port, demo=demo, log_level=log_level))


async def _serve(runtime: SystemRuntime, *, host: str, port: int, demo: bool, log_level: str) -> None:
    try:
        await runtime.start(relays=runtime.settings.relay_enabled)
    except Exception as exc:
        await runtime.stop()
        raise fail(f"could not start: {exc}", code=1) from exc
    try:
        lines: list[str] = []
        if demo and runtime.system.demo is not None:
            async with runtime.client() as client:
                lines = await runtime.system.demo(client)
        base = f"http://{host}:{port}"
        out.print(f"[bold]{runtime.system.name}[/bold] is up: every service on its own database, embedded bus.")
        out.print(f"  gateway   {base}/   health {base}/health")
        for name, rt in runtime.services.items():
            out.print(f"  {name:<9} {base}/api/{name}/docs   db {rt.db.url.render_as_string(hide_password=True)}")
        for line in lines:
            out.print(f"  {line}")
        out.print("Press Ctrl+C to stop.")
        await run_server(runtime.app, host=host, port=port, log_level=log_level)
    finally:
        await runtime.stop()


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="The service to run.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of this service's API.")] = 8001,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    database_url: Annotated[
        str | None,
        typer.Option(
            help="This service's database URL, or a template with {service} "
            "[env ISLES_<SERVICE>_DATABASE_URL, ISLES_DATABASE_URL]."
        ),
    ] = None,
    bus: Annotated[str, typer.Option(help="nats (production) or embedded (no other process hears it).")] = "nats",
    nats_url: Annotated[str | None, typer.Option(help="NATS server(s) [env ISLES_NATS_URL].")] = None,
    peer: Annotated[
        list[str] | None,
        typer.Option(help="Another service's base URL, NAME=URL (repeatable) [env ISLES_<NAME>_URL]."),
    ] = None,
    relay_batch_size: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="Outbox rows per relay fetch [env ISLES_RELAY_BATCH_SIZE].")
    ] = None,
    relays: Annotated[bool, typer.Option("--relay/--no-relay", help="Run the outbox relay in this process.")] = True,
    consumers: Annotated[
        bool, typer.Option("--consumer/--no-consumer", help="Run the event consumer in this process.")
    ] = True,
    data_dir: DataDirOpt = None,
    system: SystemOpt = DEFAULT_SYSTEM,
    log_level: Annotated[str, typer.Option(envvar="ISLES_LOG_LEVEL", help="debug, info, warning, error.")] = "info",
) -> None:
    """Run one service as a process: its API (with /health, /ready, /metrics), its
    outbox relay and its event consumer. SIGTERM stops it gracefully: requests in
    flight finish, unfinished events are released to the bus.

    Example: isles serve employee --port 8001 --database-url postgresql+asyncpg://postgres@127.0.0.1/hrms_employee
    """
    configure_logging(log_level, os.environ.get("ISLES_LOG_FORMAT", "console"))
    if bus not in ("nats", "embedded"):
        raise fail(f"--bus must be nats or embedded, not {bus!r}")
    if not _port_free(host, port):
        raise fail(f"port {port} on {host} is in use; choose another with --port")
    loaded = load_system(system)
    names = [s.name for s in loaded.services]
    if service not in names:
        raise fail(f"no service {service!r}; services: {', '.join(names)}")
    env = dict(os.environ)
    template = None
    if database_url is not None:
        if "{service}" in database_url:
            template = database_url
        else:
            env[f"ISLES_{service.upper()}_DATABASE_URL"] = database_url
    for item in peer or []:
        name, sep, url = item.partition("=")
        if not sep or name not in names or not url.startswith(("http://", "https://")):
            raise fail(f"--peer {item!r}: expected NAME=http://host:port with NAME one of {', '.join(names)}")
        env[f"ISLES_{name.upper()}_URL"] = url.rstrip("/")
    settings = make_settings(data_dir, template, bus=bus, nats_url=nats_url, relay_batch_size=relay_batch_size)
    try:
        runtime = SystemRuntime(loaded, settings, environ=env, only=[service])
    except DatabaseConfigError as exc:
        raise fail(str(exc)) from exc
    asyncio.run(_serve_one(runtime, host=host, port=port, relays=relays, consumers=consumers, log_level=log_level))


async def _serve_one(
    runtime: SystemRuntime, *, host: str, port: int, relays: bool, consumers: bool, log_level: str
) -> None:
    try:
        await runtime.start(relays=relays and runtime.settings.relay_enabled, consumers=consumers)
    except Exception as exc:
        await runtime.stop()
        raise fail(f"could not start: {exc}", code=1) from exc
    try:
        name = next(iter(runtime.services))
        out.print(f"{name} serving on http://{host}:{port}/api/{name}  (ready: /ready, metrics: /metrics)")
        await run_server(runtime.app, host=host, port=port, log_level=log_level)
    finally:
        await runtime.stop()


@app.command()
def services(system: SystemOpt = DEFAULT_SYSTEM, data_dir: DataDirOpt = None, database_url: DbUrlOpt = None) -> None:
    """List the services, their databases, their references to other services, and their replicas.

    Example: isles services
    """
    runtime = make_runtime(system, data_dir, database_url)
    table = Table("service", "database", "tables", "publishes", "consumes")
    for name, rt in runtime.services.items():
        s = rt.service
        table.add_row(
            name,
            rt.db.url.render_as_string(hide_password=True),
            ", ".join(t for t in s.own_tables if not t.startswith("isles_")),
            ", ".join(e.event_type for e in s.publishes),
            ", ".join(sorted({h.event.event_type for h in s.all_handlers()})),
        )
    out.print(table)
    refs = Table("reference (no foreign key)", "nullable")
    for ref in runtime.references.all():
        refs.add_row(str(ref), "yes" if ref.nullable else "no")
    out.print(refs)
    reps = Table("replica", "source", "kept from")
    for name, rt in runtime.services.items():
        for replica in rt.service.replicas:
            reps.add_row(f"{name}: {replica.label}", replica.source, ", ".join(e.event_type for e in replica.events))
    out.print(reps)
    asyncio.run(_dispose(runtime))


async def _dispose(runtime: SystemRuntime) -> None:
    for rt in runtime.services.values():
        await rt.db.dispose()


def run_db(runtime: SystemRuntime, work: Any) -> Any:
    """Run ``work()`` (a coroutine function), turning a database failure into one line."""

    async def go() -> Any:
        try:
            return await work()
        finally:
            await _dispose(runtime)

    try:
        return asyncio.run(go())
    except (OSError, SQLAlchemyError) as exc:
        raise fail(f"database error: {str(exc).splitlines()[0]}", code=1) from exc


def _selected(runtime: SystemRuntime, service: str | None) -> list[str]:
    if service is None:
        return list(runtime.services)
    if service not in runtime.services:
        raise fail(f"no service {service!r}; services: {', '.join(runtime.services)}")
    return [service]


@migrate_app.command("status")
def migrate_status(
    service: ServiceOpt = None,
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Show each service's current and head revision.

    Example: isles migrate status --service employee
    """
    runtime = make_runtime(system, data_dir, database_url)
    names = _selected(runtime, service)

    async def go() -> list[migrations.Status]:
        result = []
        for name in names:
            rt = runtime[name]
            await rt.db.ensure_exists()
            result.append(await migrations.status(rt.db, rt.service))
        return result

    table = Table("service", "current", "head", "state")
    for st in run_db(runtime, go):
        table.add_row(st.service, st.current or "-", st.head or "-", "up to date" if st.up_to_date else "pending")
    out.print(table)


@migrate_app.command("upgrade")
def migrate_upgrade(
    service: ServiceOpt = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Apply pending migrations (``isles up`` does this too).

    Example: isles migrate upgrade --service project
    """
    runtime = make_runtime(system, data_dir, database_url)
    names = _selected(runtime, service)

    async def go() -> None:
        for name in names:
            rt = runtime[name]
            await rt.db.ensure_exists()
            await migrations.upgrade(rt.db, rt.service, revision)
            out.print(f"{name}: upgraded to {revision}")

    run_db(runtime, go)


@migrate_app.command("downgrade")
def migrate_downgrade(
    service: Annotated[str, typer.Option("--service", "-s", help="The service to downgrade.")],
    revision: Annotated[str, typer.Option(help="Target revision, e.g. -1 or base.")],
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Revert one service's migrations to ``--revision``.

    Example: isles migrate downgrade --service project --revision base
    """
    runtime = make_runtime(system, data_dir, database_url)
    _selected(runtime, service)

    async def go() -> None:
        await migrations.downgrade(runtime[service].db, runtime[service].service, revision)
        out.print(f"{service}: downgraded to {revision}")

    run_db(runtime, go)


@migrate_app.command("revision")
def migrate_revision(
    service: Annotated[str, typer.Option("--service", "-s", help="The service whose history gets the revision.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does.")],
    rev_id: Annotated[str | None, typer.Option(help="Revision id (default: random).")] = None,
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Autogenerate a revision from the difference between the service's models and
    its database (upgrade the database first). Review it before committing.

    Example: isles migrate revision --service project -m "add assignment notes"
    """
    runtime = make_runtime(system, data_dir, database_url)
    _selected(runtime, service)

    async def go() -> None:
        rt = runtime[service]
        await rt.db.ensure_exists()
        await migrations.revision(rt.db, rt.service, message, rev_id)

    run_db(runtime, go)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
