"""``isles certs``: a local CA and server certificates for PostgreSQL and NATS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from isles.cli.common import app, fail, out


@app.command()
def certs(
    folder: Annotated[Path, typer.Option("--dir", help="Where ca.pem and the servers' pairs are written.")] = Path(
        ".isles/certs"
    ),
    server: Annotated[
        list[str] | None,
        typer.Option(
            "--server",
            help="NAME=HOST[,HOST...]: a server certificate for these names and addresses "
            "(default: postgres and nats, for 127.0.0.1 and localhost).",
        ),
    ] = None,
) -> None:
    """Make a local certificate authority (kept if there) and server certificates
    signed by it, for development and tests; production uses the organisation's CA.
    Point the servers at <name>.pem and <name>.key, and the services at ca.pem:
    ISLES_DATABASE_TLS_CA and ISLES_NATS_TLS_CA (verify-full: the chain and the name).

    Example: isles certs --dir .isles/certs --server postgres=db.internal,10.0.0.5
    """
    from isles.security.certs import CA_FILE, issue

    wanted: dict[str, list[str]] = {}
    for spec in server or ["postgres=127.0.0.1,localhost", "nats=127.0.0.1,localhost"]:
        name, sep, hosts = spec.partition("=")
        names = [h.strip() for h in hosts.split(",") if h.strip()]
        if not sep or not name.strip().isidentifier() or not names:
            raise fail(f"--server {spec!r}: expected NAME=HOST[,HOST...], e.g. postgres=127.0.0.1,localhost")
        wanted[name.strip()] = names
    try:
        made = [issue(folder, name, hosts) for name, hosts in wanted.items()]
    except (OSError, ValueError) as exc:
        raise fail(f"cannot write certificates to {folder}: {exc}") from exc
    table = Table("server", "certificate", "key", "names")
    for m in made:
        table.add_row(m.name, str(m.cert), str(m.key), ", ".join(m.hosts))
    out.print(table)
    out.print(f"CA: {(folder / CA_FILE).resolve()}", highlight=False)
