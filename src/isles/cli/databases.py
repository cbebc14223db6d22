"""``isles migrate`` (one Alembic history per service) and ``isles db provision``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from isles.cli.common import (
    ServiceOpt,
    app,
    err,
    fail,
    load_system,
    make_settings,
    make_tooling,
    out,
    record_security_event,
    run_db,
    selected,
)

migrate_app = typer.Typer(
    help="Per-service database migrations (one Alembic history per service).\n\n"
    "Example: isles migrate upgrade\n\nExample: isles migrate status --service employee",
    no_args_is_help=True,
)
app.add_typer(migrate_app, name="migrate")
db_app = typer.Typer(
    help="Per-service PostgreSQL databases and their least-privilege roles.\n\n"
    "Example: isles db provision --database-url postgresql+asyncpg://postgres@127.0.0.1/hrms_{service}",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@migrate_app.command("status")
def migrate_status(
    service: ServiceOpt = None,
) -> None:
    """Show each service's current and head revision, and the kernel tables' (their
    history is the platform's, the same in every service database).

    Example: isles migrate status --service employee
    """
    from isles.storage import migrations

    runtime = make_tooling()
    names = selected(runtime, service)

    async def go() -> list[migrations.Status | str]:
        result: list[migrations.Status | str] = []
        for name in names:
            rt = runtime[name]
            if rt.service.migrations is None:
                result.append("no migration history (tables made from its models)")
            elif not await rt.db.exists():  # said, not made: status never creates a database
                result.append(f"no database at {rt.db.url.render_as_string(hide_password=True)}")
            else:
                result.append(await migrations.status(rt.db, rt.service))
        return result

    table = Table("service", "current", "head", "kernel", "state")
    found = run_db(runtime, go)
    for name, st in zip(names, found, strict=True):
        if isinstance(st, str):
            table.add_row(name, "-", "-", "-", st)
            continue
        kernel = st.kernel or "-"
        if st.kernel != st.kernel_head:
            kernel += f" (head {st.kernel_head})"
        state = "up to date" if st.up_to_date else "pending"
        table.add_row(st.service, st.current or "-", st.head or "-", kernel, state)
    out.print(table)
    if any(isinstance(st, str) and st.startswith("no database") for st in found):
        err.print(
            "Some databases are not there: is the system elsewhere (--data-dir, --database-url)? "
            "isles up or isles migrate upgrade makes them."
        )


@migrate_app.command("upgrade")
def migrate_upgrade(
    service: ServiceOpt = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply pending migrations (``isles up`` does this too).

    Example: isles migrate upgrade --service project
    """
    from isles.storage import migrations

    runtime = make_tooling(migrator=True)
    names = selected(runtime, service)

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
) -> None:
    """Revert one service's migrations to ``--revision``.

    Example: isles migrate downgrade --service project --revision base
    """
    from isles.storage import migrations

    runtime = make_tooling(migrator=True)
    selected(runtime, service)

    async def go() -> None:
        await migrations.downgrade(runtime[service].db, runtime[service].service, revision)
        out.print(f"{service}: downgraded to {revision}")

    run_db(runtime, go)


@migrate_app.command("revision")
def migrate_revision(
    service: Annotated[str, typer.Option("--service", "-s", help="The service whose history gets the revision.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does.")],
    rev_id: Annotated[str | None, typer.Option(help="Revision id (default: random).")] = None,
) -> None:
    """Autogenerate a revision from the difference between the service's models and
    its database (upgrade the database first). Review it before committing.

    Example: isles migrate revision --service project -m "add assignment notes"
    """
    from isles.storage import migrations

    runtime = make_tooling(migrator=True)
    selected(runtime, service)

    async def go() -> None:
        rt = runtime[service]
        await rt.db.ensure_exists()
        written = await migrations.revision(rt.db, rt.service, message, rev_id)
        out.print(f"{service}: wrote {written}")

    run_db(runtime, go)


@db_app.command("provision")
def db_provision(
    service: ServiceOpt = None,
    admin_url: Annotated[
        str | None,
        typer.Option(help="A superuser's URL (default: the --database-url server and user) [env ISLES_ADMIN_URL]."),
    ] = None,
    secrets_dir: Annotated[
        Path, typer.Option(help="Where each role's database URL (with its password) is written, mode 0600.")
    ] = Path(".isles/secrets"),
    rotate: Annotated[
        bool, typer.Option(help="Give every role a new password (and rewrite its secrets file).")
    ] = False,
) -> None:
    """Create each service's PostgreSQL database and three roles that reach only it:
    the migrator (owns the schema; isles migrate), the runtime role (SELECT, INSERT,
    UPDATE, DELETE; isles serve) and a reader (SELECT; audits, backups). Run it again
    at any time: it brings roles, ownership and grants up to date.

    Example: isles db provision --database-url postgresql+asyncpg://postgres@127.0.0.1/hrms_{service}
    Then:    set -a; . .isles/secrets/employee.migrator.env; isles migrate upgrade -s employee
             set -a; . .isles/secrets/employee.env; isles serve employee
    """
    from sqlalchemy.engine import make_url

    from isles.storage.db import DatabaseConfigError, tls_context
    from isles.storage.provision import provision

    configured = make_settings()
    template = configured.database_url
    if not template or "{service}" not in template or not template.startswith("postgresql"):
        raise fail("give --database-url postgresql+asyncpg://ADMIN@HOST:PORT/<prefix>_{service}")
    loaded = load_system()
    names = [s.name for s in loaded.services]
    if service is not None and service not in names:
        raise fail(f"no service {service!r}; services: {', '.join(names)}")
    admin_raw = admin_url or configured.admin_url
    admin = make_url(admin_raw) if admin_raw else make_url(template.replace("{service}", "x")).set(database="postgres")

    async def go() -> list[Any]:
        return [
            await provision(
                admin,
                name,
                make_url(template.replace("{service}", name)),
                secrets_dir=secrets_dir,
                rotate=rotate,
                ssl=tls_context(configured.database_tls_ca),
            )
            for name in ([service] if service else names)
        ]

    try:
        done = asyncio.run(go())
    except (OSError, DatabaseConfigError) as exc:
        raise fail(f"provision failed: {str(exc).splitlines()[0]}", code=1) from exc
    except Exception as exc:  # asyncpg's errors (permission denied, ...)
        raise fail(f"provision failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", code=1) from exc
    if rotate:
        rotated = [f"{role.name}" for p in done for role in p.roles.values() if role.new_password]
        record_security_event("database.passwords_rotated", roles=rotated, folder=str(secrets_dir))
    table = Table("service", "database", "role", "kind", "created", "password", "secrets file")
    for p in done:
        for role in p.roles.values():
            created = ", ".join(
                x
                for x, y in (("role", role.created), ("database", p.created_database and role.kind == "migrator"))
                if y
            )
            password = "new" if role.new_password else "kept"
            table.add_row(p.service, p.database, role.name, role.kind, created or "-", password, str(role.secrets_file))
    out.print(table)
