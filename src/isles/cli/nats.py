"""``isles nats auth``: NATS users per service, from the system's declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from isles.cli.common import app, fail, load_system, make_settings, out, record_security_event

nats_app = typer.Typer(
    help="NATS: a user per service that publishes only its own events.\n\n"
    "Example: isles nats auth --dir /etc/isles/nats",
    no_args_is_help=True,
)
app.add_typer(nats_app, name="nats")


@nats_app.command("auth")
def nats_auth(
    folder: Annotated[
        Path, typer.Option("--dir", help="Where the seeds (0600), the env files and nats-auth.conf are written.")
    ] = Path(".isles/nats"),
    rotate: Annotated[bool, typer.Option(help="Give the services new keys (restart them, reload the server).")] = False,
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="With --rotate: only these services' keys.")
    ] = None,
) -> None:
    """Write a NATS user (NKEY) per service: it may publish only its own events
    (isles.<service>.>) and keep its own stream, and read only the streams it consumes
    through its own durable consumer. The server gets nats-auth.conf (public keys and
    permissions, no secret); each service its <service>.nats.env. Run it again after
    adding a service or a subscription: seeds are kept unless --rotate.

    Example: isles nats auth --dir /etc/isles/nats
    Then:    nats-server -js -c server.conf   # server.conf: include /etc/isles/nats/nats-auth.conf
             set -a; . /etc/isles/nats/employee.nats.env; isles serve employee --bus nats
    """
    from isles.runtime.nats_auth import CONFIG_FILE, provision

    system = load_system()
    names = [s.name for s in system.services]
    for name in service or []:
        if name not in names:
            raise fail(f"no service {name!r}; services: {', '.join(names)}")
    if service and not rotate:
        raise fail("--service names whose keys --rotate renews; without --rotate every service's keys are kept")
    try:
        done = provision(system, make_settings().nats.prefix, folder, rotate=rotate, only=service or ())
    except OSError as exc:
        raise fail(f"cannot write to {folder}: {exc}") from exc
    renewed = [p.service for p in done if p.new_key]
    if rotate and renewed:
        record_security_event("nats.keys_rotated", services=renewed, folder=str(folder))
    table = Table("service", "public key", "key", "env file")
    for p in done:
        table.add_row(p.service, p.public_key, "new" if p.new_key else "kept", str(p.env_file))
    out.print(table)
    out.print(f"server: include {(folder / CONFIG_FILE).resolve()}", highlight=False)
