"""``isles up``, ``isles serve``, ``isles services``: running the system, or one service."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from isles.cli.common import (
    DEFAULT_SYSTEM,
    app,
    common,
    dispose,
    fail,
    load_system,
    make_runtime,
    make_settings,
    make_tooling,
    out,
    recorded,
)
from isles.cli.state import State
from isles.cli.state import stopped as state_stopped
from isles.cli.state import write as record_state

if TYPE_CHECKING:
    from isles.runtime.system import SystemRuntime


def _port_free(host: str, port: int, *, reuse_port: bool = False) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@app.command()
def up(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the gateway.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Load demo data on first start.")] = True,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning, error [env ISLES_LOG_LEVEL; default warning].")
    ] = None,
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
    log_level = _logging(log_level, default="warning")
    if not _port_free(host, port):
        raise fail(f"port {port} on {host} is in use; choose another with --port")
    if distributed:
        from isles.runtime.distributed import run_distributed

        spec = common().system or DEFAULT_SYSTEM
        settings = make_settings(use_state=False, nats_url=nats_url)
        from isles.http.serving import run

        code = run(
            run_distributed(
                load_system(spec),
                spec,
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
    runtime = make_runtime(generate_keys=True, use_state=False, public_url=_public_url(host, port))
    from isles.http.serving import run

    run(_serve(runtime, host=host, port=port, demo=demo, log_level=log_level))


def _public_url(host: str, port: int) -> str | None:
    """Where this process is reached, for links in mail, unless ISLES_PUBLIC_URL says."""
    if make_settings(use_state=False).public_url:
        return None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def _keep_demo_notes(data_dir: Path, lines: list[str]) -> None:
    """What the demo printed (its logins), readable by this user only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-credentials.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def _logging(flag: str | None, *, default: str) -> str:
    """Configure logging from the flag, else ``ISLES_LOG_LEVEL``, else ``default``; the level."""
    configured = make_settings(use_state=False)
    level = flag or configured.log_level or default
    from isles.core.logging import configure as configure_logging

    configure_logging(level, configured.log_format)
    return level


def _announce(runtime: SystemRuntime, base: str, lines: list[str]) -> None:
    """Record where the system lives (for the other commands) and say it: addresses,
    databases, logins (or where they are), keys, mail."""
    from isles.runtime.keys import keys_dir

    settings = runtime.settings
    credentials = settings.data_dir.resolve() / "demo-credentials.txt"
    mail = (settings.mail.dir or settings.data_dir / "mail").resolve()
    record_state(
        settings.state_file,
        State(
            system=common().system or DEFAULT_SYSTEM,
            url=base,
            pid=os.getpid(),
            data_dir=str(settings.data_dir.resolve()),
            keys_dir=str(keys_dir(settings).resolve()),
            database_url=settings.database_url,
            mail_dir=str(mail),
            credentials=str(credentials) if credentials.is_file() else None,
            started_at=time.time(),
            databases={n: rt.db.url.render_as_string(hide_password=False) for n, rt in runtime.services.items()},
        ),
    )
    out.print(f"[bold]{runtime.system.name}[/bold] is up: every service on its own database, embedded bus.")
    out.print(f"  gateway   {base}/   health {base}/health")
    for name, rt in runtime.services.items():
        out.print(f"  {name:<9} {base}/api/{name}/docs   db {rt.db.url.render_as_string(hide_password=True)}")
    if lines:
        for line in lines:
            out.print(f"  {line}")
    elif credentials.is_file():
        out.print(f"  logins    in {credentials} (made on first start)")
    out.print(f"  keys      {keys_dir(settings).resolve()}")
    if settings.mail.sender == "file":
        out.print(f"  mail      {mail} (one .eml per message)")
    out.print(f"  other commands (isles token, sagas, dlq, ...) find this system in {settings.state_file}")
    exports = []
    if settings.data_dir.resolve() != Path(".isles").resolve():
        exports.append(f"ISLES_DATA_DIR={settings.data_dir.resolve()}")
    if settings.database_url:  # a newcomer's trial: from elsewhere, the data folder alone finds SQLite files
        from sqlalchemy.engine import make_url

        url = make_url(settings.database_url.replace("{service}", "SERVICE"))
        shown = url._replace(password=None).render_as_string(hide_password=False).replace("SERVICE", "{service}")
        exports.append(f"ISLES_DATABASE_URL='{shown}'")
        if url.password:
            exports.append("(with the URL's password, left out here)")
    if exports:
        out.print(f"  elsewhere: export {' '.join(exports)}", highlight=False, markup=False)


async def _serve(runtime: SystemRuntime, *, host: str, port: int, demo: bool, log_level: str) -> None:
    from isles.http.serving import run_server
    from isles.runtime.system import tune_gc

    try:
        await runtime.start(relays=runtime.settings.relay.enabled)
    except Exception as exc:
        await runtime.stop()
        raise fail(f"could not start: {exc}", code=1) from exc
    settings = runtime.settings
    try:
        lines: list[str] = []
        if demo and runtime.system.demo is not None:
            async with runtime.client() as client:
                lines = await runtime.system.demo(client)
            if lines:
                _keep_demo_notes(settings.data_dir, lines)
        if settings.gc_tuning:
            tune_gc()
        _announce(runtime, f"http://{host}:{port}", lines)
        out.print("Press Ctrl+C to stop.")
        await run_server(runtime.app, host=host, port=port, log_level=log_level)
    finally:
        await runtime.stop()
        state_stopped(settings.state_file, os.getpid())


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="The service to run.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of this service's API.")] = 8001,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
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
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning, error [env ISLES_LOG_LEVEL; default info].")
    ] = None,
    reuse_port: Annotated[
        bool,
        typer.Option(
            "--reuse-port",
            help="Bind with SO_REUSEPORT, beside the socket isles up --distributed holds on the port for this "
            "service (so that no other process takes it between restarts).",
        ),
    ] = False,
) -> None:
    """Run one service as a process: its API (with /health, /ready, /metrics), its
    outbox relay and its event consumer. SIGTERM stops it gracefully: requests in
    flight finish, unfinished events are released to the bus.

    --database-url is this service's own URL, or a template with {service}
    [env ISLES_<SERVICE>_DATABASE_URL, ISLES_DATABASE_URL].

    Example: isles serve employee --port 8001 --database-url postgresql+asyncpg://postgres@127.0.0.1/hrms_employee
    """
    log_level = _logging(log_level, default="info")
    if bus not in ("nats", "embedded"):
        raise fail(f"--bus must be nats or embedded, not {bus!r}")
    if not _port_free(host, port, reuse_port=reuse_port):
        raise fail(f"port {port} on {host} is in use; choose another with --port")
    loaded = load_system(common().system or DEFAULT_SYSTEM)
    names = [s.name for s in loaded.services]
    if service not in names:
        raise fail(f"no service {service!r}; services: {', '.join(names)}")
    from isles.core.settings import ServiceEnvironment
    from isles.http.serving import run
    from isles.runtime.keys import keys_dir
    from isles.runtime.system import SystemRuntime
    from isles.security.tokens import KeysError
    from isles.storage.db import DatabaseConfigError

    env = ServiceEnvironment()
    template = None
    database_url = common().database_url  # this service's own URL, or a template with {service}
    if database_url is not None:
        if "{service}" in database_url:
            template = database_url
        else:
            env.set_database_url(service, database_url)
    for item in peer or []:
        name, sep, url = item.partition("=")
        if not sep or name not in names or not url.startswith(("http://", "https://")):
            raise fail(f"--peer {item!r}: expected NAME=http://host:port with NAME one of {', '.join(names)}")
        env.set_peer_url(name, url.rstrip("/"))
    settings = make_settings(
        use_state=False,
        url_is_template=template is not None,
        bus=bus,
        nats_url=nats_url,
        relay_batch_size=relay_batch_size,
    )
    folder = keys_dir(settings)
    if not (folder / f"{service}.key").is_file():
        raise fail(
            f"no signing key for {service} in {folder}: create the keys with `isles keys generate --dir {folder}` "
            "and point ISLES_KEYS_DIR at them"
        )
    try:
        runtime = SystemRuntime(loaded, settings, environ=env.environ, only=[service])
    except (DatabaseConfigError, KeysError) as exc:
        raise fail(str(exc)) from exc
    run(
        _serve_one(
            runtime,
            host=host,
            port=port,
            relays=relays,
            consumers=consumers,
            log_level=log_level,
            reuse_port=reuse_port,
        )
    )


async def _serve_one(
    runtime: SystemRuntime,
    *,
    host: str,
    port: int,
    relays: bool,
    consumers: bool,
    log_level: str,
    reuse_port: bool = False,
) -> None:
    from isles.http.serving import run_server
    from isles.runtime.system import tune_gc

    try:
        await runtime.start(relays=relays and runtime.settings.relay.enabled, consumers=consumers)
    except Exception as exc:
        await runtime.stop()
        raise fail(f"could not start: {exc}", code=1) from exc
    try:
        if runtime.settings.gc_tuning:
            tune_gc()
        name = next(iter(runtime.services))
        out.print(f"{name} serving on http://{host}:{port}/api/{name}  (ready: /ready, metrics: /metrics)")
        await run_server(runtime.app, host=host, port=port, log_level=log_level, reuse_port=reuse_port)
    finally:
        await runtime.stop()


@app.command()
def status(
    url: Annotated[bool, typer.Option("--url", help="Print only the gateway's address (for scripts).")] = False,
) -> None:
    """Where the system the last isles up started lives: its address, data, keys, mail
    and logins, and whether it still runs. The other commands use the same record.

    Example: curl -H "Authorization: Bearer $(isles token)" "$(isles status --url)/api/company/companies"
    """
    from isles.core.settings import IslesSettings

    path = IslesSettings().state_file
    state = recorded()
    if state is None:
        raise fail(f"no system recorded in {path}: start one with isles up (or give --data-dir to a command)")
    if url:
        typer.echo(state.url)
        return
    running = "running" if state.alive else "stopped"
    out.print(f"[bold]{state.system}[/bold] {running} (pid {state.pid}), recorded in {path}", highlight=False)
    rows = [("gateway", state.url), ("data", state.data_dir), ("keys", state.keys_dir)]
    if state.database_url:
        rows.append(("databases", state.database_url.split("@")[-1]))
    rows += [("mail", state.mail_dir or "-"), ("logins", state.credentials or "-")]
    for name, value in rows:
        out.print(f"  {name:<10}{value}", highlight=False)


@app.command()
def services() -> None:
    """List the services, their databases, their references to other services, and their replicas.

    Example: isles services
    """
    runtime = make_tooling()
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
    asyncio.run(dispose(runtime))
