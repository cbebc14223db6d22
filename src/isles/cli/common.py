"""What every ``isles`` command shares: the app, the output, the options, and the two
contexts a command opens — the whole runtime, or only the databases it needs."""

from __future__ import annotations

import asyncio
import functools
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from typer.core import TyperGroup

from isles.cli.state import State, StateError
from isles.cli.state import read as read_state

# The platform is imported where a command uses it, not here: `isles --help` and a
# command's --help start without loading FastAPI, SQLAlchemy or pydantic.
if TYPE_CHECKING:
    from rich.progress import Progress

    from isles.core.settings import IslesSettings
    from isles.runtime.system import SystemRuntime
    from isles.sagas.store import SagaStore
    from isles.service.declaration import Service, System
    from isles.storage.db import ServiceDatabase


class _Root(TyperGroup):
    """The ``isles`` group: the shared options may come after the command too."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # Known before the callback runs (the group hands the rest to the command only
        # after it): a command's --help reads no settings.
        ctx.meta["isles.help"] = "--help" in args
        return super().parse_args(ctx, hoist(args))


app = typer.Typer(
    cls=_Root,
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
SystemOpt = Annotated[
    str | None,
    typer.Option(
        "--system",
        envvar="ISLES_SYSTEM",
        help=f"module:function building the System (default: the one isles up recorded, else {DEFAULT_SYSTEM}).",
    ),
]
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

#: The options every command shares, declared once (on the app) and accepted before
#: or after the command: ``isles --data-dir X migrate status`` and ``isles migrate
#: status --data-dir X`` are the same (see :func:`hoist`).
COMMON_OPTIONS = ("--system", "--data-dir", "--database-url")
COMMON_HELP = (
    "Options every command takes, before or after it: --system MODULE:FUNCTION [env ISLES_SYSTEM], "
    "--data-dir DIR [env ISLES_DATA_DIR], --database-url URL [env ISLES_DATABASE_URL] (see isles --help)."
)


@dataclass(frozen=True)
class Common:
    """The shared options of this invocation."""

    system: str | None = None
    data_dir: Path | None = None
    database_url: str | None = None

    def as_flags(self) -> str:
        """These options as flags to give another command (a hint printed for the
        user to paste): the database URL with its password hidden."""
        import re
        import shlex

        flags: list[str] = []
        if self.system:
            flags += ["--system", self.system]
        if self.data_dir is not None:
            flags += ["--data-dir", str(self.data_dir)]
        if self.database_url:
            flags += ["--database-url", re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", self.database_url)]
        return shlex.join(flags)


_given = Common()


@app.callback(epilog=COMMON_HELP)
def _common_options(
    ctx: typer.Context,
    system: SystemOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Isles: microservices with a database per service.

    Example: isles up --port 8010 --data-dir /tmp/hrms
    """
    global _given
    _given = Common(system, data_dir, database_url)
    # Every command logs to stderr (warnings and up; ISLES_LOG_LEVEL, ISLES_LOG_FORMAT):
    # structlog's default is stdout, where a line would break a command's JSON output
    # (seen: "database.full" in the middle of isles audit --format json). isles up and
    # serve configure it again from their flags. A command's --help logs nothing and
    # must stay quick: it reads no settings (that would import pydantic-settings).
    if ctx.meta.get("isles.help"):
        return
    from pydantic import ValidationError

    from isles.core.logging import configure as configure_logging
    from isles.core.settings import IslesSettings

    try:
        settings = IslesSettings()
        level, fmt = settings.log_level or "warning", settings.log_format
    except ValidationError:  # a bad setting: the command itself says which
        level, fmt = "warning", "console"
    configure_logging(level, fmt)


def common() -> Common:
    """The shared options of this invocation (the app's callback runs before every command)."""
    return _given


def recorded() -> State | None:
    """What the last ``isles up`` recorded (see :mod:`isles.cli.state`), if anything —
    nothing when this command names another data folder (``--data-dir``,
    ``ISLES_DATA_DIR``): that is another system, and the recorded database URL, keys
    and system are not its."""
    from isles.core.settings import IslesSettings

    settings = IslesSettings()
    try:
        state = read_state(settings.state_file)
    except StateError as exc:
        raise fail(str(exc)) from exc
    given = common().data_dir
    if given is None and "data_dir" in settings.model_fields_set:
        given = settings.data_dir
    if state is not None and given is not None and Path(given).resolve() != Path(state.data_dir).resolve():
        return None
    return state


def system_spec() -> str:
    """The system this command works on: --system (or ISLES_SYSTEM), else the one
    ``isles up`` recorded, else the HR system."""
    if common().system:
        return common().system  # type: ignore[return-value]
    state = recorded()
    return state.system if state is not None else DEFAULT_SYSTEM


def hoist(args: list[str]) -> list[str]:
    """``args`` with the shared options (and their values) moved in front of the
    command, wherever they were given; ``--`` ends the options."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in COMMON_OPTIONS:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(args[i : i + 2])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


KeysDirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="The keys folder [env ISLES_KEYS_DIR; default <data dir>/keys]."),
]


def progress_bar(*columns: Any) -> Progress:
    """A transient Rich progress bar on stderr, shown only where stderr is a terminal.
    Elsewhere (a pipe, a log file, a test's runner) it prints nothing, not even the
    empty line a stopped bar leaves: a failure then is one line (a newcomer's trial)."""
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def load_system(spec: str | None = None) -> System:
    """``module:function``, found as Python finds it, or in the current folder (as
    ``python -m`` would: a project's own system loads without installing it)."""
    from isles.service.declaration import System

    spec = spec or system_spec()
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        target: Any = getattr(importlib.import_module(module_name), attr or "build")
    except (ImportError, AttributeError) as exc:
        raise fail(f"cannot load system {spec!r}: {exc}") from exc
    system = target() if callable(target) else target
    if not isinstance(system, System):
        raise fail(f"{spec!r} did not give an isles System")
    return system


def make_settings(*, use_state: bool = True, url_is_template: bool = True, **more: Any) -> IslesSettings:
    """Settings from the environment, the shared options and ``more`` (flags; None: not
    given); below them, unless ``use_state`` is false (``up``, ``serve``), what the last
    ``isles up`` recorded. ``url_is_template=False``: --database-url named one service's
    own database (``isles serve``), so it is not the template of every service's."""
    from isles.core.settings import IslesSettings

    given = common()
    overrides: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if given.data_dir is not None:
        overrides.setdefault("data_dir", given.data_dir)
    if given.database_url is not None and url_is_template:
        overrides.setdefault("database_url", given.database_url)
    try:
        settings = IslesSettings(**overrides)
        if use_state:
            state = recorded()
            if state is not None:
                settings = settings.below(state.settings)
        return settings
    except ValueError as exc:
        raise fail(f"bad settings: {exc}") from exc


def make_runtime(*, generate_keys: bool | None = None, use_state: bool = True, **more: Any) -> SystemRuntime:
    """The whole runtime of the system the shared options name (``more``: as for
    :func:`make_settings`)."""
    from isles.runtime.system import SystemRuntime
    from isles.security.tokens import KeysError
    from isles.storage.db import DatabaseConfigError

    system = load_system(None if use_state else common().system or DEFAULT_SYSTEM)
    settings = make_settings(use_state=use_state, **more)
    try:
        return SystemRuntime(system, settings, generate_keys=generate_keys)
    except (DatabaseConfigError, KeysError) as exc:
        raise fail(str(exc)) from exc


class ToolService:
    """One service as a tooling command sees it: its declaration, and its database
    (made on first use) and saga store."""

    def __init__(self, service: Service, make_db: Callable[[], ServiceDatabase]) -> None:
        self.service = service
        self.name = service.name
        self._make_db = make_db
        self._db: ServiceDatabase | None = None

    @property
    def db(self) -> ServiceDatabase:
        if self._db is None:
            self._db = self._make_db()
        return self._db

    @property
    def store(self) -> SagaStore | None:
        """Its saga store, if it orchestrates sagas."""
        from isles.sagas.store import SagaStore

        if not self.service.sagas:
            return None
        return SagaStore(self.db, owner="isles-cli", lease=timedelta(seconds=0))

    async def readable(self) -> ServiceDatabase:
        """Its database, to read: it must exist and hold the kernel tables. Nothing is
        created; a missing one is one line naming it and how to point at the right one."""
        from isles.storage.schema import OUTBOX

        db = self.db
        where = db.url.render_as_string(hide_password=True)
        if not await db.exists():
            raise fail(
                f"{self.name}: no database at {where}. Is the system elsewhere? Give --data-dir DIR or "
                "--database-url URL (or ISLES_DATA_DIR, ISLES_DATABASE_URL), or start it with isles up"
            )
        if not await db.has_table(OUTBOX):
            raise fail(f"{self.name}: the database at {where} holds no Isles tables; run isles migrate upgrade")
        return db

    async def dispose(self) -> None:
        if self._db is not None:
            await self._db.dispose()


class Tooling:
    """What a tooling command opens: the services' declarations and, as it uses them,
    their databases. No gateway, bus, key ring, relays or consumers (those are
    :class:`SystemRuntime`'s, for ``up``, ``serve`` and ``dlq retry``)."""

    def __init__(
        self,
        system: System,
        settings: IslesSettings,
        environ: Mapping[str, str] | None = None,
        *,
        migrator: bool = False,
    ) -> None:
        from isles.core.references import ReferenceRegistry
        from isles.storage.db import (
            ServiceDatabase,
            check_distinct,
            resolve_database_url,
            resolve_migrator_url,
            resolve_pool,
        )

        env = dict(os.environ if environ is None else environ)
        self.system = system
        self.settings = settings
        self._env = env
        self._readers: dict[str, ServiceDatabase] = {}
        # Migrations run as the schema's owner where one is given (ISLES_<S>_MIGRATOR_URL).
        resolve = resolve_migrator_url if migrator else resolve_database_url
        urls = {s.name: resolve(s.name, settings, env) for s in system.services}
        check_distinct(urls)
        self.references = ReferenceRegistry()
        for s in system.services:
            self.references.add(s.references)
        self.services = {
            s.name: ToolService(
                s,
                functools.partial(
                    ServiceDatabase,
                    s.name,
                    urls[s.name],
                    settings,
                    resolve_pool(s.name, settings, env),
                    metadata=s.metadata,
                ),
            )
            for s in system.services
        }

    def __getitem__(self, name: str) -> ToolService:
        return self.services[name]

    def reader(self, name: str) -> ServiceDatabase:
        """``name``'s database as its read-only role, where one is given
        (``ISLES_<SERVICE>_READER_URL``, see ``isles db provision``); else as the
        service's own role."""
        from isles.core.settings import ServiceEnvironment
        from isles.storage.db import ServiceDatabase, resolve_pool

        url = ServiceEnvironment(self._env).reader_url(name)
        if url is None:
            return self.services[name].db
        if name not in self._readers:
            service = self.services[name].service
            pool = resolve_pool(name, self.settings, self._env)
            self._readers[name] = ServiceDatabase(name, url, self.settings, pool, metadata=service.metadata)
        return self._readers[name]

    async def dispose(self) -> None:
        for service in self.services.values():
            await service.dispose()
        for db in self._readers.values():
            await db.dispose()


def make_tooling(*, migrator: bool = False) -> Tooling:
    """The declarations and (lazily) the databases of the system the shared options
    name; with ``migrator``, as the role that owns each schema where one is given."""
    from isles.storage.db import DatabaseConfigError

    system = load_system()
    settings = make_settings()
    try:
        return Tooling(system, settings, migrator=migrator)
    except DatabaseConfigError as exc:
        raise fail(str(exc)) from exc


async def dispose(runtime: SystemRuntime | Tooling) -> None:
    """Close the databases a command opened."""
    if isinstance(runtime, Tooling):
        await runtime.dispose()
        return
    for rt in runtime.services.values():
        await rt.db.dispose()


def run_db(runtime: SystemRuntime | Tooling, work: Any) -> Any:
    """Run ``work()`` (a coroutine function), turning a database failure into one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from isles.storage.db import DatabaseConfigError

    async def go() -> Any:
        try:
            return await work()
        finally:
            await dispose(runtime)

    try:
        return asyncio.run(go())
    except DatabaseConfigError as exc:  # bad input: a data folder that cannot be made
        raise fail(str(exc)) from exc
    except (OSError, SQLAlchemyError) as exc:
        raise fail(f"database error: {str(exc).splitlines()[0]}", code=1) from exc


def selected(runtime: SystemRuntime | Tooling, service: str | None) -> list[str]:
    """The services a command works on: ``service``, or all of them."""
    if service is None:
        return list(runtime.services)
    if service not in runtime.services:
        raise fail(f"no service {service!r}; services: {', '.join(runtime.services)}")
    return [service]


def record_security_event(event: str, **detail: Any) -> None:
    """Append a command's security event (key and password rotations) to the log the
    settings name, as the operating-system user who ran it."""
    import getpass

    from isles.security.events import SecurityLog

    log = SecurityLog(make_settings().security_log_target(), service="cli")
    try:
        log.record(event, actor=getpass.getuser(), **detail)
    finally:
        log.close()
