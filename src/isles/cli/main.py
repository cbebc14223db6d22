"""The ``isles`` command line."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from isles.core.logging import configure as configure_logging
from isles.core.settings import IslesSettings
from isles.http.serving import run, run_server
from isles.lint.cli import lint as lint_command
from isles.runtime.system import System, SystemRuntime, keys_dir, tune_gc
from isles.sagas.store import SagaStore
from isles.security.tokens import OPERATOR, KeyRing, KeysError, generate_keys
from isles.storage import dead_letters as dlq
from isles.storage import migrations
from isles.storage.db import DatabaseConfigError

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
db_app = typer.Typer(help="Per-service PostgreSQL databases and their least-privilege roles.", no_args_is_help=True)
app.add_typer(db_app, name="db")
dlq_app = typer.Typer(
    help="Dead-lettered events, per service: list, show, retry (apply again), drop.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")
sagas_app = typer.Typer(
    help="Sagas each service orchestrates: list, show (every step), retry (an operator's go-ahead).",
    no_args_is_help=True,
)
app.add_typer(sagas_app, name="sagas")
keys_app = typer.Typer(help="Signing keys of access tokens (Ed25519, one pair per signer).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class _Output:
    """A console made when something is printed, not at import: a terminal gets
    tables fitted to its width (or COLUMNS), a pipe or a file whole rows."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        stream = sys.stderr if self._stderr else sys.stdout
        width = None if os.environ.get("COLUMNS") or stream.isatty() else 250
        return getattr(Console(stderr=self._stderr, soft_wrap=True, width=width), name)


err = cast(Console, _Output(stderr=True))
out = cast(Console, _Output(stderr=False))

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


def make_runtime(
    system_spec: str, data_dir: Path | None, database_url: str | None, *, generate_keys: bool | None = None
) -> SystemRuntime:
    system = load_system(system_spec)
    settings = make_settings(data_dir, database_url)
    try:
        return SystemRuntime(system, settings, generate_keys=generate_keys)
    except (DatabaseConfigError, KeysError) as exc:
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
        from isles.runtime.distributed import run_distributed

        settings = make_settings(None, database_url, nats_url=nats_url)
        code = run(
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
    runtime = make_runtime(system, data_dir, database_url, generate_keys=True)
    run(_serve(runtime, host=host, port=port, demo=demo, log_level=log_level))


def _keep_demo_notes(data_dir: Path, lines: list[str]) -> None:
    """What the demo printed (its logins), readable by this user only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-credentials.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")


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
            if lines:
                _keep_demo_notes(runtime.settings.data_dir, lines)
        if runtime.settings.gc_tuning:
            tune_gc()
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
    folder = keys_dir(settings)
    if not (folder / f"{service}.key").is_file():
        raise fail(
            f"no signing key for {service} in {folder}: create the keys with `isles keys generate --dir {folder}` "
            "and point ISLES_KEYS_DIR at them"
        )
    try:
        runtime = SystemRuntime(loaded, settings, environ=env, only=[service])
    except (DatabaseConfigError, KeysError) as exc:
        raise fail(str(exc)) from exc
    run(_serve_one(runtime, host=host, port=port, relays=relays, consumers=consumers, log_level=log_level))


async def _serve_one(
    runtime: SystemRuntime, *, host: str, port: int, relays: bool, consumers: bool, log_level: str
) -> None:
    try:
        await runtime.start(relays=relays and runtime.settings.relay_enabled, consumers=consumers)
    except Exception as exc:
        await runtime.stop()
        raise fail(f"could not start: {exc}", code=1) from exc
    try:
        if runtime.settings.gc_tuning:
            tune_gc()
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


@db_app.command("provision")
def db_provision(
    service: ServiceOpt = None,
    database_url: DbUrlOpt = None,
    admin_url: Annotated[
        str | None,
        typer.Option(help="A superuser's URL (default: the --database-url server and user) [env ISLES_ADMIN_URL]."),
    ] = None,
    secrets_dir: Annotated[
        Path, typer.Option(help="Where each service's database URL (with its password) is written, mode 0600.")
    ] = Path(".isles/secrets"),
    rotate: Annotated[bool, typer.Option(help="Give every role a new password.")] = False,
    system: SystemOpt = DEFAULT_SYSTEM,
) -> None:
    """Create each service's PostgreSQL database and a role that can reach only it.
    Run it again at any time: it brings roles, ownership and grants up to date.

    Example: isles db provision --database-url postgresql+asyncpg://postgres@127.0.0.1/hrms_{service}
    Then:    set -a; . .isles/secrets/employee.env; isles serve employee
    """
    from sqlalchemy.engine import make_url

    from isles.storage.provision import provision

    template = database_url or os.environ.get("ISLES_DATABASE_URL")
    if not template or "{service}" not in template or not template.startswith("postgresql"):
        raise fail("give --database-url postgresql+asyncpg://ADMIN@HOST:PORT/<prefix>_{service}")
    loaded = load_system(system)
    names = [s.name for s in loaded.services]
    if service is not None and service not in names:
        raise fail(f"no service {service!r}; services: {', '.join(names)}")
    admin_raw = admin_url or os.environ.get("ISLES_ADMIN_URL")
    admin = make_url(admin_raw) if admin_raw else make_url(template.replace("{service}", "x")).set(database="postgres")

    async def go() -> list[Any]:
        return [
            await provision(
                admin, name, make_url(template.replace("{service}", name)), secrets_dir=secrets_dir, rotate=rotate
            )
            for name in ([service] if service else names)
        ]

    try:
        done = asyncio.run(go())
    except (OSError, DatabaseConfigError) as exc:
        raise fail(f"provision failed: {str(exc).splitlines()[0]}", code=1) from exc
    except Exception as exc:  # asyncpg's errors (permission denied, ...)
        raise fail(f"provision failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", code=1) from exc
    table = Table("service", "role", "database", "created", "password", "secrets file")
    for p in done:
        created = ", ".join(x for x, y in (("role", p.created_role), ("database", p.created_database)) if y) or "-"
        table.add_row(p.service, p.role, p.database, created, "new" if p.new_password else "kept", str(p.secrets_file))
    out.print(table)


def _letter_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise fail(f"{value!r} is not a dead-letter id or event id (a UUID)") from exc


@dlq_app.command("list")
def dlq_list(
    service: ServiceOpt = None,
    event_type: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many per service.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """List dead letters: id, event, aggregate, attempts, error.

    Example: isles dlq list --service project
    """
    runtime = make_runtime(system, data_dir, database_url)
    names = _selected(runtime, service)

    async def go() -> list[tuple[str, dlq.DeadLetter]]:
        found = []
        for name in names:
            await runtime[name].db.ensure_exists()
            found += [(name, d) for d in await dlq.list_letters(runtime[name].db, event_type=event_type, limit=limit)]
        return found

    letters = run_db(runtime, go)
    if as_json:
        for name, d in letters:
            row = {"service": name, "id": str(d.id), "event_id": str(d.event_id), "event_type": d.event_type}
            row |= {"aggregate_id": d.aggregate_id, "aggregate_version": d.aggregate_version}
            row |= {"attempts": d.attempts, "error": d.error, "created_at": d.created_at.isoformat()}
            typer.echo(json.dumps(row))
        return
    table = Table("service", "id", "event", "aggregate", "attempts", "error", "parked at")
    for name, d in letters:
        table.add_row(
            name,
            str(d.id),
            d.event_type,
            f"{d.aggregate_id} v{d.aggregate_version}",
            str(d.attempts),
            d.error.splitlines()[0][:80] if d.error else "",
            d.created_at.isoformat(timespec="seconds"),
        )
    out.print(table)
    out.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("show")
def dlq_show(
    letter: Annotated[str, typer.Argument(help="Dead-letter id or event id.")],
    service: Annotated[str, typer.Option("--service", "-s", help="The service that parked it.")],
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Show one dead letter whole: the event, the error and its traceback.

    Example: isles dlq show --service project 0b7c...
    """
    runtime = make_runtime(system, data_dir, database_url)
    _selected(runtime, service)
    ident = _letter_id(letter)
    d = run_db(runtime, lambda: dlq.find(runtime[service].db, ident))
    if d is None:
        raise fail(f"{service} has no dead letter {letter}")
    out.print(f"[bold]{d.event_type}[/bold] {d.event_id}  aggregate {d.aggregate_id} v{d.aggregate_version}")
    out.print(f"attempts {d.attempts}, first failed {d.first_failed_at.isoformat()}, parked {d.created_at.isoformat()}")
    out.print(f"error: {d.error}", highlight=False)
    out.print_json(d.payload)
    if d.traceback:
        out.print(d.traceback, highlight=False, markup=False)


def _targets(runtime: SystemRuntime, service: str, letter: str | None, everything: bool) -> Any:
    if (letter is None) == (not everything):
        raise fail("give one dead-letter id, or --all")
    db = runtime[service].db

    async def pick() -> list[dlq.DeadLetter]:
        if everything:
            return await dlq.list_letters(db, limit=100_000)
        found = await dlq.find(db, _letter_id(letter or ""))
        if found is None:
            raise fail(f"{service} has no dead letter {letter}")
        return [found]

    return pick


@dlq_app.command("retry")
def dlq_retry(
    service: Annotated[str, typer.Option("--service", "-s", help="The service that parked it.")],
    letter: Annotated[str | None, typer.Argument(help="Dead-letter id or event id.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Retry every dead letter of the service.")] = False,
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Apply dead-lettered events again, each in one transaction with its inbox mark.
    Exit code 1 if any fails again (it stays parked with the new error).

    Example: isles dlq retry --service project --all
    """
    runtime = make_runtime(system, data_dir, database_url)
    _selected(runtime, service)
    consumer = runtime[service].consumer
    if consumer is None:
        raise fail(f"{service} consumes no events")
    pick = _targets(runtime, service, letter, everything)

    async def go() -> tuple[int, int]:
        ok = failed = 0
        for d in await pick():
            try:
                await consumer.redrive(d.envelope, d.id)
            except Exception as exc:
                failed += 1
                err.print(f"{d.id} {d.event_type}: failed again: {type(exc).__name__}: {exc}", highlight=False)
            else:
                ok += 1
                out.print(f"{d.id} {d.event_type}: applied")
        return ok, failed

    ok, failed = run_db(runtime, go)
    out.print(f"{ok} applied, {failed} failed again")
    if failed:
        raise typer.Exit(1)


@dlq_app.command("drop")
def dlq_drop(
    service: Annotated[str, typer.Option("--service", "-s", help="The service that parked it.")],
    letter: Annotated[str | None, typer.Argument(help="Dead-letter id or event id.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Drop every dead letter of the service.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Delete dead letters for good (the events stay marked, so they are never applied).

    Example: isles dlq drop --service project 0b7c... --yes
    """
    runtime = make_runtime(system, data_dir, database_url)
    _selected(runtime, service)
    pick = _targets(runtime, service, letter, everything)
    if not yes and not typer.confirm(f"drop {'every dead letter' if everything else letter} of {service}?"):
        raise typer.Exit(1)

    async def go() -> int:
        letters = await pick()
        for d in letters:
            await dlq.drop(runtime[service].db, d)
        return len(letters)

    out.print(f"{run_db(runtime, go)} dead letter(s) dropped")


def _orchestrators(runtime: SystemRuntime, service: str | None) -> list[str]:
    names = [n for n, rt in runtime.services.items() if rt.sagas is not None]
    if service is None:
        return names
    _selected(runtime, service)
    if service not in names:
        raise fail(f"{service} orchestrates no sagas; these do: {', '.join(names) or 'none'}")
    return [service]


def _store(runtime: SystemRuntime, name: str) -> SagaStore:
    runner = runtime[name].sagas
    assert runner is not None  # _orchestrators chose it
    return runner.store


def _saga_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise fail(f"{value!r} is not a saga id (a UUID)") from exc


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _error_detail(error: dict[str, Any] | None) -> str:
    return str(error.get("detail", "")) if error else ""


@sagas_app.command("list")
def sagas_list(
    service: ServiceOpt = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only these statuses (repeatable): running, compensating, completed, compensated, failed."),
    ] = None,
    saga_type: Annotated[
        str | None, typer.Option("--type", help="Only this saga type, e.g. project.CreateAssignment.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many per service, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """List sagas, newest first: id, type, status, the step it is at, its error.

    Example: isles sagas list --status failed --status compensating
    """
    from isles.sagas import SagaStatus

    known = {s.value for s in SagaStatus}
    for value in status or ():
        if value not in known:
            raise fail(f"--status {value!r}: expected one of {', '.join(sorted(known))}")
    runtime = make_runtime(system, data_dir, database_url)
    names = _orchestrators(runtime, service)

    async def go() -> list[tuple[str, Any, int]]:
        found = []
        for name in names:
            store = _store(runtime, name)
            await store.db.ensure_exists()
            states, total = await store.find(status=status or (), saga_type=saga_type, limit=limit)
            found += [(name, st, total) for st in states]
        return found

    rows = run_db(runtime, go)
    if as_json:
        for name, st, _total in rows:
            typer.echo(json.dumps({"service": name, **st.as_dict()}, default=str))
        return
    table = Table("service", "id", "type", "status", "step", "started", "error")
    for name, st, _total in rows:
        at = st.steps[min(st.current_step, len(st.steps) - 1)].name if st.steps else "-"
        table.add_row(
            name,
            str(st.id),
            st.saga_type,
            st.status.value,
            at if st.status.in_flight or st.status.value == "failed" else "-",
            st.created_at.isoformat(timespec="seconds"),
            _short(_error_detail(st.error), 50),
        )
    out.print(table)
    out.print(f"{len(rows)} saga(s)")


def _find_saga(runtime: SystemRuntime, names: list[str], ident: uuid.UUID) -> Any:
    async def go() -> tuple[str, Any] | None:
        for name in names:
            store = _store(runtime, name)
            await store.db.ensure_exists()
            state = await store.load(ident)
            if state is not None:
                return name, state
        return None

    found = run_db(runtime, go)
    if found is None:
        raise fail(f"no saga {ident} in {', '.join(names)}")
    return found


@sagas_app.command("show")
def sagas_show(
    saga: Annotated[str, typer.Argument(help="The saga's id.")],
    service: ServiceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The saga as one JSON object.")] = False,
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Show one saga: its input, its error, and each step's status, attempts, result and errors.

    Example: isles sagas show 6f1c2a52-64b2-4c4e-9a57-1d0e8f7d5a11
    """
    ident = _saga_id(saga)
    runtime = make_runtime(system, data_dir, database_url)
    name, st = _find_saga(runtime, _orchestrators(runtime, service), ident)
    if as_json:
        typer.echo(json.dumps({"service": name, **st.as_dict()}, default=str))
        return
    out.print(f"[bold]{st.saga_type}[/bold] {st.id}  ({name})  [bold]{st.status.value}[/bold]", highlight=False)
    out.print(f"started {st.created_at.isoformat()}  updated {st.updated_at.isoformat()}", highlight=False)
    if st.finished_at:
        out.print(f"finished {st.finished_at.isoformat()}", highlight=False)
    if st.owner:
        out.print(f"driven by {st.owner} until {st.lease_until.isoformat() if st.lease_until else '-'}")
    if st.error:
        out.print(f"error: {st.error.get('status')} {_error_detail(st.error)}", highlight=False)
    table = Table("#", "step", "status", "attempts", "undo attempts", "result", "error")
    for step in st.steps:
        table.add_row(
            str(step.position),
            step.name,
            step.status.value,
            str(step.attempts),
            str(step.compensation_attempts),
            _short(step.result, 40) if step.result is not None else "",
            _short(step.compensation_error or _error_detail(step.error), 60),
        )
    out.print(table)
    out.print_json(data=st.data)
    if st.status.value == "failed":
        out.print(f"A compensation gave up. Fix its cause, then: isles sagas retry {st.id} --service {name}")


@sagas_app.command("retry")
def sagas_retry(
    saga: Annotated[str, typer.Argument(help="The saga's id.")],
    service: Annotated[str, typer.Option("--service", "-s", help="The service that orchestrates it.")],
    system: SystemOpt = DEFAULT_SYSTEM,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """An operator's retry. A failed saga (a compensation gave up) goes back to
    compensating from the step it stopped at, with that step's attempts counted anew;
    an in-flight saga loses its lease, so a running service takes it up at once. The
    service's saga runner does the work (now if it runs, else at its next start).

    Example: isles sagas retry 6f1c2a52-64b2-4c4e-9a57-1d0e8f7d5a11 --service project
    """
    ident = _saga_id(saga)
    runtime = make_runtime(system, data_dir, database_url)
    names = _orchestrators(runtime, service)
    store = _store(runtime, names[0])

    async def go() -> tuple[Any, str] | None:
        await store.db.ensure_exists()
        try:
            return await store.reopen(ident)
        except KeyError:
            return None

    done = run_db(runtime, go)
    if done is None:
        raise fail(f"no saga {ident} in {service}")
    before, action = done
    out.print(f"{before.saga_type} {ident}: was {before.status.value}; {action}")


KeysDirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="The keys folder [env ISLES_KEYS_DIR; default <data dir>/keys]."),
]


@keys_app.command("generate")
def keys_generate(system: SystemOpt = DEFAULT_SYSTEM, data_dir: DataDirOpt = None, folder: KeysDirOpt = None) -> None:
    """Create the key pairs missing: one per service of the system (the auth service's
    signs users' tokens) and the operator's. Existing keys are kept. Give each service
    process the folder with the public keys and its own private key only.

    Example: isles keys generate --dir /etc/isles/keys
    """
    names = [s.name for s in load_system(system).services]
    target = folder or keys_dir(make_settings(data_dir, None))
    try:
        made = generate_keys(target, [*names, OPERATOR])
    except (OSError, ValueError) as exc:
        raise fail(f"cannot write keys to {target}: {exc}") from exc
    out.print(f"{target}: created {', '.join(made) if made else 'nothing (all keys exist)'}", highlight=False)


@app.command()
def token(
    tenant: Annotated[
        str | None, typer.Option(help="Act for this company only (its id); default: every company.")
    ] = None,
    ttl: Annotated[int, typer.Option(min=1, max=86_400, help="Lifetime in seconds.")] = 3600,
    data_dir: DataDirOpt = None,
    folder: KeysDirOpt = None,
) -> None:
    """Print an operator's access token (signed with the operator key) for calling the
    APIs by hand. Users get theirs from POST /api/auth/login.

    Example: curl -H "Authorization: Bearer $(isles token)" http://127.0.0.1:8000/api/company/companies
    """
    if tenant is not None:
        try:
            uuid.UUID(tenant)
        except ValueError:
            raise fail(f"--tenant {tenant!r}: not a company id (UUID)") from None
    target = folder or keys_dir(make_settings(data_dir, None))
    try:
        signer = KeyRing.load(target, signers=[OPERATOR]).signer(OPERATOR, ttl=ttl)
    except KeysError as exc:
        raise fail(str(exc)) from exc
    print(signer.issue(subject="operator", tenant=tenant))


app.command("lint")(lint_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
