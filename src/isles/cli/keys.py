"""``isles keys generate`` and ``isles token``."""

from __future__ import annotations

import functools
import uuid
from typing import Annotated

import typer
from rich.table import Table

from isles.cli.common import (
    KeysDirOpt,
    app,
    fail,
    load_system,
    make_settings,
    out,
    record_security_event,
)

keys_app = typer.Typer(
    help="Signing keys of access tokens (Ed25519, one pair per signer) and the services' data keys.\n\n"
    "Example: isles keys generate\n\nExample: isles keys rotate-data --service employee",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def keys_generate(folder: KeysDirOpt = None) -> None:
    """Create the keys missing: a signing pair per service of the system (the auth
    service's signs users' tokens) and the operator's, and a data key for each service
    with encrypted columns (<dir>/data/<service>/). Existing keys are kept. Give each
    service process the folder with the public keys and its own private keys only.

    Example: isles keys generate --dir /etc/isles/keys
    """
    from isles.runtime.keys import generate_system_keys, keys_dir

    target = folder or keys_dir(make_settings())
    try:
        made = generate_system_keys(load_system(), target)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot write keys to {target}: {exc}") from exc
    if made:
        record_security_event("keys.generated", signers=made, folder=str(target))
    out.print(f"{target}: created {', '.join(made) if made else 'nothing (all keys exist)'}", highlight=False)


@app.command()
def token(
    tenant: Annotated[
        str | None, typer.Option(help="Act for this company only (its id); default: every company.")
    ] = None,
    ttl: Annotated[int, typer.Option(min=1, max=86_400, help="Lifetime in seconds.")] = 3600,
    folder: KeysDirOpt = None,
) -> None:
    """Print an operator's access token (signed with the operator key) for calling the
    APIs by hand. Users get theirs from POST /api/auth/login.

    Example: curl -H "Authorization: Bearer $(isles token)" "$(isles status --url)/api/company/companies"
    """
    from isles.runtime.keys import keys_dir
    from isles.security.tokens import OPERATOR, KeyRing, KeysError

    if tenant is not None:
        try:
            uuid.UUID(tenant)
        except ValueError:
            raise fail(f"--tenant {tenant!r}: not a company id (UUID)") from None
    target = folder or keys_dir(make_settings())
    try:
        signer = KeyRing.load(target, signers=[OPERATOR]).signer(OPERATOR, ttl=ttl)
    except KeysError as exc:
        raise fail(str(exc)) from exc
    print(signer.issue(subject="operator", tenant=tenant))


@keys_app.command("rotate-data")
def keys_rotate_data(
    service: Annotated[str | None, typer.Option("--service", "-s", help="One service (default: every one).")] = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows re-encrypted per transaction.")] = 500,
    new_key: Annotated[
        bool, typer.Option(help="Make a new data key first (--no-new-key: finish a rotation that stopped).")
    ] = True,
    folder: KeysDirOpt = None,
) -> None:
    """Make a new data key for each service with encrypted columns and re-encrypt every
    value under it, in short batches, while the system runs (running processes read
    the new key when they meet it, and write with it within 30 s). Values written
    before their column was encrypted are encrypted too. Old keys are kept: delete one
    only once no value uses it (this command then reports 0 left).

    Example: isles keys rotate-data --service employee
    """
    from isles.cli.common import make_tooling, progress_bar, run_db, selected
    from isles.runtime.keys import keys_dir
    from isles.storage import crypto, rotation

    runtime = make_tooling()
    names = [n for n in selected(runtime, service) if crypto.encrypted_columns(runtime[n].service.metadata)]
    if not names:
        raise fail(f"{service or 'no service'} has no encrypted columns")
    target = folder or keys_dir(make_settings())
    made: dict[str, str] = {}
    for name in names:
        own = crypto.data_keys_dir(target, name)
        if new_key:
            made[name] = crypto.generate_data_key(own)
        crypto.ring(name).load(own)
        if crypto.ring(name).current is None:
            raise fail(f"{name}: no data key in {own} (isles keys generate makes one)")

    async def go() -> list[tuple[str, str, int, int]]:
        results = []
        with progress_bar() as bar:
            for name in names:
                rt = runtime[name]
                db = await rt.readable()
                total = await rotation.pending(db, rt.service.metadata, name)
                task = bar.add_task(f"{name}: re-encrypting", total=total or 1)
                done = await rotation.reencrypt(
                    db, rt.service.metadata, name, batch=batch, progress=functools.partial(bar.advance, task)
                )
                left = await rotation.pending(db, rt.service.metadata, name)
                results.append((name, str(crypto.ring(name).current), sum(r.values for r in done), left))
        return results

    results = run_db(runtime, go)
    table = Table("service", "current key", "values re-encrypted", "left")
    for name, key_id, values, left in results:
        table.add_row(name, key_id, str(values), str(left))
    out.print(table)
    record_security_event(
        "keys.data_rotated", services=names, new_keys=list(made.values()), reencrypted=sum(r[2] for r in results)
    )
