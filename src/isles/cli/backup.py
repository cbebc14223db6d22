"""``isles backup`` and ``isles restore``: per-service backups into a dated folder with
a manifest, their restore (into the configured databases or new ones) and verification
(:mod:`isles.tools.backup`; docs/backup.md)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from isles.cli.common import app, common, dispose, fail, make_settings, make_tooling, out, progress_bar

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.engine import URL

    from isles.tools.backup import Manifest, RestoreResult

ServicesOpt = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="Only this service (repeatable; default: all).")
]


def _bar(names: list[str], verb: str) -> tuple[Progress, Any]:
    """A Rich progress with one task per service, and the callback that moves it."""
    bar = progress_bar()
    tasks: dict[str, TaskID] = {n: bar.add_task(f"{n}: waiting", total=1) for n in names}

    def note(service: str, what: str) -> None:
        task = tasks.get(service)
        if task is None:
            return
        if what == "done":
            bar.update(task, completed=1, description=f"{service}: done")
        else:
            bar.update(task, description=f"{service}: {verb}")

    return bar, note


@app.command("backup")
def backup_command(
    service: ServicesOpt = None,
    to: Annotated[Path | None, typer.Option("--to", help="The backups folder [default: <data dir>/backups].")] = None,
    keep_daily: Annotated[
        int | None, typer.Option("--keep-daily", min=0, help="Then keep the newest backup of each of the last N days.")
    ] = None,
    keep_weekly: Annotated[
        int | None,
        typer.Option("--keep-weekly", min=0, help="... and of each of the last M ISO weeks (with --keep-daily)."),
    ] = None,
    compress: Annotated[int, typer.Option(min=0, max=9, help="Compression level (pg_dump, gzip).")] = 6,
) -> None:
    """Back up every service's database (or those named) into a new dated folder
    <to>/<UTC time>/ with a manifest.json: PostgreSQL with pg_dump (custom format,
    every service's snapshot taken at once), SQLite with its online backup API, while
    the system runs. With --keep-daily/--keep-weekly, older backups beyond them are
    deleted afterwards, each service's backups counted apart (a backup of one service
    never lets another's last backups go); a folder without a manifest (a backup being
    written) is never deleted. Exit 0 done, 1 a database could not be dumped, 2 bad
    input.

    Example: isles backup --to /var/backups/isles --keep-daily 7 --keep-weekly 4
    isles backup --service employee --service project
    """
    from sqlalchemy.exc import SQLAlchemyError

    from isles.tools.backup import BackupError, NoDatabase, backup, prune

    if (keep_daily is None) != (keep_weekly is None):
        raise fail("give --keep-daily and --keep-weekly together")
    if keep_daily == 0 and keep_weekly == 0:
        raise fail("--keep-daily 0 --keep-weekly 0 would delete every backup, this one too: keep at least one")
    tooling = make_tooling()
    names = list(service or tooling.services)
    unknown = [n for n in names if n not in tooling.services]
    if unknown:
        raise fail(f"no service {', '.join(unknown)}; services: {', '.join(tooling.services)}")
    root = to or make_settings().data_dir / "backups"
    if root.exists() and not root.is_dir():
        raise fail(f"--to {root}: not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--to {root}: cannot make the folder: {exc.strerror}") from exc
    bar, note = _bar(names, "dumping")

    async def go() -> Manifest:
        try:
            dbs = {n: tooling[n].db for n in names}
            with bar:
                return await backup(
                    tooling.system,
                    dbs,
                    root,
                    services=names,
                    compress=compress,
                    progress=note,
                    tls_ca=tooling.settings.database_tls_ca,
                )
        finally:
            await dispose(tooling)

    try:
        manifest = asyncio.run(go())
    except NoDatabase as exc:  # bad input: a wrong --data-dir
        raise fail(str(exc).splitlines()[0]) from exc
    except (BackupError, OSError, SQLAlchemyError) as exc:
        raise fail(str(exc).splitlines()[0], code=1) from exc
    table = Table("service", "dialect", "file", "bytes", "rows", "revision", "seconds")
    for s in manifest.services:
        table.add_row(
            s.service, s.dialect, s.file, str(s.size), str(sum(s.rows.values())), str(s.revision), f"{s.seconds:.2f}"
        )
    out.print(table)
    spread = f"; snapshots within {manifest.spread_ms:.1f} ms" if manifest.spread_ms is not None else ""
    out.print(f"backup {manifest.folder}{spread}", highlight=False)
    if keep_daily is not None and keep_weekly is not None:
        pruned = prune(root, keep_daily=keep_daily, keep_weekly=keep_weekly, keep=[manifest.folder.name])
        out.print(
            f"retention: {len(pruned.kept)} kept, {len(pruned.deleted)} deleted "
            f"({', '.join(pruned.deleted) or 'none'}; each service's backups counted apart)",
            highlight=False,
        )
        if pruned.left:
            out.print(
                f"retention: {len(pruned.left)} folder(s) without a manifest left alone ({', '.join(pruned.left)}): "
                "a backup being written, or one stopped mid-way: remove them by hand once you know",
                highlight=False,
            )


@app.command("restore")
def restore_command(
    folder: Annotated[Path, typer.Argument(help="A backup folder (holding manifest.json).")],
    service: ServicesOpt = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Restore into scratch databases (isles_verify_<random>_<service>, a temporary folder), "
            "check checksums, schema revisions and row counts against the manifest, drop them.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a target database that exists (holds tables) already.")
    ] = False,
) -> None:
    """Restore a backup: every service in it (or those named) into the system's
    configured databases, or into new ones with the shared option --database-url
    TEMPLATE ({service} in it) or --data-dir DIR (SQLite). Every file's sha256 is
    checked first; each restored database is compared with the manifest (schema
    revisions, every table's row count). A target that exists is replaced only with
    --force (stop the system first: a restore into the databases of the system isles
    up records as running is refused). Exit 0 restored and matching, 1 a mismatch or a
    failed restore, 2 a corrupt or missing backup, a target holding data without
    --force, the running system's databases, a target of another kind than the backup
    (nothing restored), or bad input.

    Example: isles restore .isles/backups/20261129T074802.123Z --verify
    isles restore BACKUP --database-url 'postgresql+asyncpg://postgres@127.0.0.1/restored_{service}'
    isles restore BACKUP --service employee --force
    """
    from sqlalchemy.exc import SQLAlchemyError

    from isles.tools.backup import (
        BackupError,
        CorruptBackup,
        Manifest,
        TargetExists,
        WrongTarget,
        check_files,
        history_note,
        restore,
    )

    if verify and force:
        raise fail("--force replaces a target that exists; --verify restores into scratch databases: give one")
    try:
        manifest = Manifest.read(folder)
        names = [e.service for e in manifest.services] if not service else list(service)
        check_files(manifest, names)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    tooling = make_tooling()
    unknown = [n for n in names if n not in tooling.services]
    if unknown:
        raise fail(f"{folder}: service {', '.join(unknown)} is not in the system {tooling.system.name}")
    if not verify:
        _not_under_a_running_system({n: tooling[n].db.url for n in names})
    bar, note = _bar(names, "verifying" if verify else "restoring")

    absent: list[str] = []  # the peers without a database where these were restored

    async def go() -> list[RestoreResult]:
        try:
            targets = {n: tooling[n].db.url for n in names}
            with bar:
                done = await restore(
                    folder,
                    targets,
                    services=names,
                    verify=verify,
                    force=force,
                    progress=note,
                    tls_ca=tooling.settings.database_tls_ca,
                )
            if not verify:
                for n in tooling.services:
                    if n not in names:
                        with contextlib.suppress(Exception):  # a peer it cannot look at: no hint about it
                            if not await tooling[n].db.exists():
                                absent.append(n)
            return done
        finally:
            await dispose(tooling)

    try:
        results = asyncio.run(go())
    except BackupError as exc:
        raise fail(
            str(exc).splitlines()[0], code=2 if isinstance(exc, TargetExists | WrongTarget | CorruptBackup) else 1
        ) from exc
    except (OSError, SQLAlchemyError) as exc:
        raise fail(f"database error: {str(exc).splitlines()[0]}", code=1) from exc
    table = Table("service", "restored into", "rows", "seconds", "check", "migrations")
    for r in results:
        note, known = history_note(manifest[r.service], tooling[r.service].service)
        if not known:
            r.problems.append(note)
        check = "ok" if r.ok else "; ".join(r.problems)
        table.add_row(r.service, r.target, str(r.rows), f"{r.seconds:.2f}", check, note)
    out.print(table)
    bad = [r.service for r in results if not r.ok]
    what = "verified (scratch databases dropped)" if verify else "restored"
    if bad:
        out.print(f"{len(bad)} of {len(results)} service(s) differ from the manifest: {', '.join(bad)}")
        raise typer.Exit(1)
    out.print(f"{len(results)} service(s) {what}; revisions and row counts match the manifest", highlight=False)
    if not verify:
        # Restored to the backup's point: what the peers did since is theirs to give back.
        given = common().as_flags()
        if absent:  # into new databases without their peers: nothing to reconcile with there yet
            held = [n for n in absent if n in {e.service for e in manifest.services}]
            hint = f"next: {', '.join(absent)} have no database here: reconcile compares a service with its peers"
            if held:
                peers = " ".join(f"-s {n}" for n in held)
                hint += f"; restore them too (isles restore {folder} {peers}" + (f" {given}" if given else "") + ")"
            if len(held) < len(absent):
                hint += f"; this backup holds none of {', '.join(n for n in absent if n not in held)}"
            out.print(hint, highlight=False, markup=False, soft_wrap=True)
            return
        for r in results:
            hint = f"next: isles reconcile {r.service} --backup {folder}" + (f" {given}" if given else "")
            out.print(hint, highlight=False, markup=False, soft_wrap=True)


def _not_under_a_running_system(targets: Mapping[str, URL]) -> None:
    """Refuse (exit 2) a restore into the databases of the system ``isles up`` recorded
    as running (the state file; its process alive): a process that keeps running on a
    restored database writes on into what it had open — a SQLite file the restore
    replaced — and acknowledges writes that are then lost (a newcomer's trial). Stop
    it first. Processes started by hand (``isles serve``) are not recorded: the docs
    say to stop them too."""
    from sqlalchemy.engine import make_url

    from isles.cli.state import StateError
    from isles.cli.state import read as read_state
    from isles.core.settings import IslesSettings
    from isles.storage.db import DatabaseConfigError, resolve_database_url
    from isles.tools.backup import public_url

    try:
        state = read_state(IslesSettings().state_file)
    except StateError:
        return
    if state is None or not state.alive:
        return
    try:
        if state.databases is not None:  # each service's URL, as the running system resolved it
            theirs = {n: make_url(state.databases[n]) for n in targets if n in state.databases}
        else:  # a state file of an older isles up: its settings (not this shell's ISLES_DATABASE_URL)
            running = IslesSettings(data_dir=Path(state.data_dir), database_url=state.database_url)
            theirs = {n: make_url(resolve_database_url(n, running, {})) for n in targets}
    except (DatabaseConfigError, ValueError):
        return
    same = [n for n, url in targets.items() if n in theirs and _same_database(url, theirs[n])]
    if same:
        raise fail(
            f"{', '.join(same)}: the system isles up started (pid {state.pid}) is running on "
            f"{public_url(theirs[same[0]])}{' and the others' if len(same) > 1 else ''}: stop it first "
            "(a restore under a running process loses the writes it takes afterwards; if that process is not "
            f"isles, delete {IslesSettings().state_file})"
        )


def _server(u: URL) -> frozenset[str]:
    """Where a URL's server is: its host's addresses, every address of this machine
    (loopback, the machine's own name's, a socket folder) as one; a host that does not
    resolve, by its name."""
    import ipaddress
    import socket

    host = u.host or u.query.get("host")
    if not host or not isinstance(host, str) or host.startswith("/"):
        return frozenset({"this machine"})

    def addresses(name: str) -> set[str]:
        return {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(name, None)}

    try:
        found = addresses(host.strip("[]"))
    except (OSError, UnicodeError):
        return frozenset({host.lower()})
    try:
        mine = addresses(socket.gethostname())
    except (OSError, UnicodeError):
        mine = set()

    def local(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return ip.is_loopback or ip.is_unspecified or address in mine

    return frozenset("this machine" if local(a) else a for a in found)


def _same_database(a: URL, b: URL) -> bool:
    """The same database, as far as the URLs tell: a SQLite file by its resolved path; a
    PostgreSQL database by server (:func:`_server`: a host named two ways is one
    server), port and name."""
    if a.get_backend_name() == "sqlite" and b.get_backend_name() == "sqlite":
        return (
            bool(a.database)
            and bool(b.database)
            and Path(a.database or "").resolve() == Path(b.database or "").resolve()
        )

    if (a.get_backend_name(), a.port or 5432, a.database) != (b.get_backend_name(), b.port or 5432, b.database):
        return False
    return bool(_server(a) & _server(b))
