"""``isles keys generate`` and ``isles token``."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from isles.cli.common import (
    KeysDirOpt,
    app,
    fail,
    load_system,
    make_settings,
    out,
    record_security_event,
)

keys_app = typer.Typer(help="Signing keys of access tokens (Ed25519, one pair per signer).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def keys_generate(folder: KeysDirOpt = None) -> None:
    """Create the key pairs missing: one per service of the system (the auth service's
    signs users' tokens) and the operator's. Existing keys are kept. Give each service
    process the folder with the public keys and its own private key only.

    Example: isles keys generate --dir /etc/isles/keys
    """
    from isles.runtime.system import keys_dir
    from isles.security.tokens import OPERATOR, generate_keys

    names = [s.name for s in load_system().services]
    target = folder or keys_dir(make_settings())
    try:
        made = generate_keys(target, [*names, OPERATOR])
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
    from isles.runtime.system import keys_dir
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
