"""``isles split plan|check|run|verify|rollback``: analyse a monolith's SQLite file and
propose a plan mapping its tables onto the system's services; check a plan edited by
hand; load the services' databases by it, verify the load, undo it
(:mod:`isles.tools.split`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from isles.cli.common import app, err, fail, load_system, out, progress_bar

if TYPE_CHECKING:
    from isles.cli.common import Tooling
    from isles.storage.db import ServiceDatabase
    from isles.tools.split.analyse import Analysis
    from isles.tools.split.plan import Plan, Problem, Target

split_app = typer.Typer(
    help="Take a monolith's SQLite database apart into the system's services: "
    "analyse, plan, check, run, verify, roll back (docs/split.md).\n\n"
    "Example: isles split plan monolith.sqlite --output plan.toml\n\n"
    "Example: isles split run --plan plan.toml monolith.sqlite",
    no_args_is_help=True,
)
app.add_typer(split_app, name="split")

MonolithArg = Annotated[Path, typer.Argument(help="The monolith's SQLite file (opened read-only).")]


def _analyse(monolith: Path, *, anomalies: bool = True) -> Analysis:
    from rich.markup import escape

    from isles.tools.split import SplitError
    from isles.tools.split.analyse import analyse

    try:
        with progress_bar() as bar:
            task = bar.add_task(f"analysing {monolith.name}", total=None)
            return analyse(
                monolith,
                progress=lambda table: bar.update(task, description=f"analysed {table}"),
                anomalies=anomalies,
            )
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc


def _summary(analysis: Analysis, plan: Plan) -> None:
    from rich.table import Table

    from isles.tools.split.analyse import ANOMALY_TEXT

    tables = Table("monolith table", "rows", "target", "columns", "skipped", "defaults", "TODO", title="tables")
    for name, t in analysis.tables.items():
        tp = plan.tables[name]
        todo = sum(1 for v in tp.defaults.values() if v == "TODO") + (tp.target == "TODO")
        tables.add_row(
            name,
            str(t.rows),
            tp.target or "-",
            str(len(tp.columns)),
            str(len(tp.skip)),
            str(len(tp.defaults)),
            str(todo) if todo else "",
        )
    out.print(tables)
    declared = sum(r.declared for r in analysis.relations)
    crossing = sum(bool(r.get("crosses_services")) for r in plan.relations)
    out.print(
        f"relations: {len(analysis.relations)} ({declared} declared, {len(analysis.relations) - declared} inferred "
        f"by name and values); {crossing} cross services and become references"
    )
    weak = [r for r in analysis.relations if r.orphans]
    for r in weak:
        out.print(f"  {r.table}.{r.column} -> {r.target}: {r.overlap}% found, {r.orphans} orphan(s)")
    if analysis.anomalies:
        anomalies = Table("column", "anomaly", "rows", "sample rowids", title="anomalies")
        for a in analysis.anomalies:
            what = ANOMALY_TEXT[a.kind] + (f" ({a.detail})" if a.detail else "")
            anomalies.add_row(f"{a.table}.{a.column}", what, str(a.count), ", ".join(map(str, a.samples)))
        out.print(anomalies)


@split_app.command("plan")
def plan_command(
    monolith: MonolithArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the plan (TOML).")] = Path("plan.toml"),
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
) -> None:
    """Analyse the monolith (tables, rows, relations declared and inferred, anomalies)
    and write a proposed plan mapping each table and column onto the system's services,
    to be edited by hand and checked with isles split check.

    Example: isles split plan monolith.sqlite --output plan.toml
    """
    from isles.tools.split.plan import propose, target_of, write_plan

    if output.exists() and not force:
        raise fail(f"{output}: exists (a plan edited by hand?); --force replaces it")
    analysis = _analyse(monolith)
    plan = propose(analysis, target_of(load_system()))
    _summary(analysis, plan)
    write_plan(plan, output)
    todos = plan.todos
    out.print(
        f"plan written to {output}: {len(plan.tables)} tables, {analysis.total_rows} rows"
        + (f"; {len(todos)} TODO(s) to decide, then: isles split check --plan {output} {monolith}" if todos else "")
    )


@split_app.command("check")
def check_command(
    monolith: MonolithArg,
    plan_file: Annotated[Path, typer.Option("--plan", "-p", help="The plan (TOML) to check.")],
) -> None:
    """Check a plan against the monolith and the system: every target column that must
    be filled is mapped or defaulted, the tables and columns named exist, the types
    convert, nothing is mapped twice. Exit code 0: fine; 1: problems (listed); 2: bad input
    (a file that is not SQLite or not TOML; a plan naming tables or columns that are not
    there: each one line).

    Example: isles split check --plan plan.toml monolith.sqlite
    """
    from rich.markup import escape

    from isles.tools.split import SplitError
    from isles.tools.split.plan import check_plan, read_plan, target_of

    try:
        plan = read_plan(plan_file)
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc
    analysis = _analyse(monolith)
    problems = check_plan(plan, analysis, target_of(load_system()))

    def at(p: Problem) -> str:
        return f"{plan_file}:{p.line}" if p.line else str(plan_file)

    unknown = [p for p in problems if p.unknown]
    if unknown:  # names that are not there: bad input, each on one line
        for p in unknown[:-1]:
            err.print(f"[red]error:[/red] {escape(f'{at(p)}: {p.where}: {p.message}')}", highlight=False)
        raise fail(escape(f"{at(unknown[-1])}: {unknown[-1].where}: {unknown[-1].message}"))
    for p in problems:
        out.print(f"{at(p)}: {p.where}: {p.message}", highlight=False, markup=False)
    if problems:
        err.print(f"{len(problems)} problem(s) in {plan_file}")
        raise typer.Exit(1)
    columns = sum(len(t.columns) for t in plan.tables.values())
    out.print(f"{plan_file}: fine ({len(plan.tables)} tables, {columns} columns mapped)")


RejectsOption = Annotated[
    Path | None,
    typer.Option("--rejects", help="The rejects file (CSV; default: rejects.csv next to the plan)."),
]


def _checked_plan(plan_file: Path, monolith: Path) -> tuple[Plan, Analysis, Target]:
    """The plan, if ``check`` finds nothing wrong with it (else one line, exit 2)."""
    from rich.markup import escape

    from isles.tools.split import SplitError
    from isles.tools.split.plan import check_plan, read_plan, target_of

    try:
        plan = read_plan(plan_file)
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc
    analysis = _analyse(monolith, anomalies=False)  # the plan's notes only
    target = target_of(load_system())
    problems = check_plan(plan, analysis, target)
    if problems:
        first = problems[0]
        raise fail(
            escape(
                f"{plan_file}:{first.line or ''}: {first.where}: {first.message} "
                f"({len(problems)} problem(s): isles split check --plan {plan_file} {monolith})"
            )
        )
    return plan, analysis, target


def _databases(services: list[str]) -> tuple[Tooling, dict[str, ServiceDatabase]]:
    """The tooling and the databases of ``services``, their data keys loaded (the
    employee's encrypted columns)."""
    from isles.cli.common import make_tooling
    from isles.runtime.keys import load_data_keys

    tooling = make_tooling()
    load_data_keys(tooling.settings, [tooling[s].service for s in services], generate=False, strict=False, warn=False)
    return tooling, {s: tooling[s].db for s in services}


def _missing_data_key(plan: Plan, tooling: Tooling) -> str | None:
    """What the run could not encrypt: the first encrypted column the plan fills in a
    service without a data key to encrypt with (checked before anything is written)."""
    from isles.runtime.keys import keys_dir
    from isles.storage import crypto

    for tp in plan.tables.values():
        service, _, name = tp.target.partition(".")
        if not name or service not in tooling.services:
            continue
        table = tooling[service].service.metadata.tables.get(name)
        filled = set(tp.columns.values()) | set(tp.defaults)
        for column in table.columns if table is not None else ():
            if column.name in filled and crypto.is_encrypted(column) and crypto.ring(service).current is None:
                folder = crypto.data_keys_dir(keys_dir(tooling.settings), service)
                return (
                    f"{service}: no data key to encrypt {name}.{column.name} with in {folder}: "
                    "isles keys generate makes one (nothing was written)"
                )
    return None


async def _targets_there(plan: Plan, services: list[str], dbs: Mapping[str, ServiceDatabase]) -> None:
    """Each service's database exists (none is created) and holds the plan's tables
    (:class:`SplitError`, bad input, naming the first that does not)."""
    from isles.tools.split import SplitError

    named = [t.target for t in plan.tables.values()] + [str(r.get("table")) for r in plan.replicas]
    for service in services:
        db = dbs[service]
        first = next(n.split(".", 1)[1] for n in named if n.startswith(service + "."))
        if not await db.exists():
            where = db.url.render_as_string(hide_password=True)
            raise SplitError(
                f"{service}: no database at {where}: run isles migrate upgrade first (or give --data-dir or "
                "--database-url where the system is)"
            )
        if not await db.has_table(first):
            raise SplitError(f"{service}: its database has no table {first}: run isles migrate upgrade first")


def _urls(dbs: Mapping[str, ServiceDatabase]) -> dict[str, str]:
    return {name: db.url.render_as_string(hide_password=True) for name, db in dbs.items()}


def _planned_services(plan: Plan) -> list[str]:
    """The services a plan writes to: its tables' and its replicas'."""
    return sorted(
        {plan.tables[n].target.split(".")[0] for n in plan.tables if plan.tables[n].target}
        | {str(r.get("table", "")).split(".")[0] for r in plan.replicas if r.get("table")}
    )


@contextmanager
def _bars(verb: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per table (on stderr, gone when done): yields ``progress(table,
    done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn

    tasks: dict[str, TaskID] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with progress_bar(*columns) as bar:

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(f"{verb} {table}", total=total)
            bar.update(tasks[table], completed=done)

        yield progress


@split_app.command("run")
def run_command(
    monolith: MonolithArg,
    plan_file: Annotated[Path, typer.Option("--plan", "-p", help="The plan (TOML), as isles split check accepts it.")],
    rejects: RejectsOption = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction.")] = 5000,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed",
            help="Only the rows changed in the monolith since the last run (past each table's watermark in "
            "<plan>.ids.sqlite: its greatest updated_at, else rowid): new rows inserted, changed rows updated "
            "with their version bumped (their replicas too); ids gone from the monolith reported. For the "
            "cut-over, while the monolith still serves.",
        ),
    ] = False,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast/--no-fast",
            help="On PostgreSQL, let SQLite convert the clean rows and write them as COPY text (the rows that need "
            "a decision are converted in Python either way: docs/split.md). --no-fast converts every row in "
            "Python: slower, for comparison.",
        ),
    ] = True,
    delete_gone: Annotated[
        bool,
        typer.Option(
            "--delete-gone",
            help="With --changed: delete from the target (and its copies in other services) the rows of the ids "
            "gone from the monolith since the last runs, the tables that name others first; a delete the "
            "database refuses (a row still names it) is a reject and the row stays.",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Then verify, in the same process, as isles split verify does (its report after the run's; exit "
            "code 1 where the databases do not match the monolith). Not after a run the threshold stopped.",
        ),
    ] = False,
) -> None:
    """Load the services' databases (migrated first: isles migrate upgrade) from the
    monolith as the plan says: integer ids become UUIDs (the same one in every service
    and every run), rows are converted by the target column's type and written in
    batches, without events; a rerun adds nothing twice. Rows that cannot be loaded as
    they are go to the rejects file with the plan's decision. Every run records where
    each table's rows end (a watermark); --changed reads only the rows past it and
    updates the target's rows that differ (the cut-over: docs/split.md). Exit code 0:
    loaded; 1: a table rejected more than the plan's threshold (the run stopped there),
    or a database failed mid-way (one line: rerun to resume, or roll back); 2: bad
    input, nothing written (--changed without a run before it, a target database
    missing or not migrated, a service without the data key its encrypted columns need).

    Example: isles split run --plan plan.toml monolith.sqlite
    Example: isles split run --plan plan.toml monolith.sqlite --changed
    Example: isles split run --plan plan.toml monolith.sqlite --changed --delete-gone
    Example: isles split run --plan plan.toml monolith.sqlite --verify
    """
    from rich.markup import escape
    from rich.table import Table

    from isles.cli.common import run_db
    from isles.tools.split import SplitError
    from isles.tools.split.ids import (
        check_targets,
        forget_ids,
        namespace,
        read_loaded_ids,
        read_watermarks,
        write_ids,
        write_watermarks,
    )
    from isles.tools.split.results import RunResult, merge_rejects, read_rejects, write_rejects
    from isles.tools.split.run import run

    if delete_gone and not changed:
        raise fail("--delete-gone deletes the rows gone since the last run: give it with --changed")
    plan, analysis, target = _checked_plan(plan_file, monolith)
    rejects_file = rejects or plan_file.with_name("rejects.csv")
    ids_file = plan_file.with_suffix(".ids.sqlite")
    marks = loaded = None
    try:
        if changed:
            marks, loaded = read_watermarks(ids_file), read_loaded_ids(ids_file)
        before = read_rejects(rejects_file) if changed and rejects_file.exists() else []
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc
    services = _planned_services(plan)
    tooling, dbs = _databases(sorted(set(services) | set(_target_services(target))) if verify else services)
    dbs = {s: dbs[s] for s in services}
    try:
        check_targets(ids_file, _urls(dbs))
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc

    with _bars("loading") as progress:

        async def work() -> RunResult:
            await _targets_there(plan, services, dbs)
            missing = _missing_data_key(plan, tooling)
            if missing is not None:
                raise SplitError(missing)
            return await run(
                plan,
                analysis,
                target,
                tooling.system,
                dbs,
                batch=batch,
                progress=progress,
                changed=marks,
                loaded_ids=loaded,
                fast=fast,
                delete_gone=delete_gone,
                ids_file=ids_file,
                earlier=before,
            )

        try:
            result: RunResult = run_db(tooling, work)
        except SplitError as exc:
            raise fail(escape(str(exc))) from exc

    write_rejects(rejects_file, merge_rejects(before, result) if changed else result.rejects)
    try:
        loaded_now = {t.source: _ids(monolith, t.source, analysis, plan) for t in result.tables}
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc
    write_ids(ids_file, namespace(plan), loaded_now, known=result.id_texts, recorded=result.recorded)
    write_watermarks(ids_file, result.watermarks)
    if result.forgotten:
        forget_ids(ids_file, result.forgotten)
    if changed:
        table = Table(
            "monolith table",
            "target",
            "read (changed)",
            "new",
            "updated",
            "skipped",
            "rows with rejects",
            "gone from the monolith",
            *(["deleted"] if delete_gone else []),
            title="split run --changed",
        )
        for t in result.tables:
            table.add_row(
                t.source,
                t.target,
                str(t.read),
                str(t.inserted),
                str(t.updated),
                str(t.skipped),
                str(t.rejected_rows),
                str(len(t.deleted)),
                *([str(t.removed)] if delete_gone else []),
            )
    else:
        table = Table(
            "monolith table",
            "target",
            "rows",
            "loaded",
            "written now",
            "by SQL",
            "skipped",
            "rows with rejects",
            title="split run",
        )
        for t in result.tables:
            table.add_row(
                t.source,
                t.target,
                str(t.rows),
                str(t.loaded),
                str(t.written),
                str(t.fast),
                str(t.skipped),
                str(t.rejected_rows),
            )
    out.print(table)
    for t in result.tables:
        if t.deleted:
            shown = ", ".join(map(str, t.deleted[:10])) + (" ..." if len(t.deleted) > 10 else "")
            if not delete_gone or result.stopped_at is not None:
                then = "are left (delete them by hand once nothing refers to them, or run with --delete-gone)"
            else:
                # "deleted" where any went (a row already gone from the target is one too)
                went = f"deleted ({t.removed} row(s) there), their copies too"
                parts = [] if len(t.kept) == len(t.deleted) else [went]
                if t.kept:
                    kept = ", ".join(map(str, t.kept[:10])) + (" ..." if len(t.kept) > 10 else "")
                    parts.append(
                        f"{len(t.kept)} left ({kept}): still named by a row of the service, or refused: see the rejects"
                    )
                then = "; ".join(parts)
            out.print(
                f"gone from the monolith: {t.source} {len(t.deleted)} id(s) ({shown}); their rows in {t.target} {then}",
                highlight=False,
                markup=False,
            )
    for name, why in result.not_fast.items():
        out.print(f"{name}: by SQL none, the mapper's way: {why}", highlight=False, markup=False)
    for copy, rows in sorted(result.replicas.items()):
        now = result.replicas_written.get(copy, 0)
        out.print(
            f"copy {copy}: {rows} rows, {now} written by this run (from the owner's loaded rows, its version)",
            highlight=False,
        )
    for copy, why in sorted(result.replicas_left.items()):
        out.print(f"copy {copy}: not filled: {why}", highlight=False, markup=False)
    if changed:
        out.print(
            f"{sum(t.read for t in result.tables)} changed rows read: {sum(t.inserted for t in result.tables)} new, "
            f"{sum(t.updated for t in result.tables)} updated; {len(result.rejects)} reject(s) "
            f"(in {rejects_file}); watermarks in {ids_file}",
            highlight=False,
        )
    else:
        out.print(
            f"{sum(t.loaded for t in result.tables)} rows loaded, {sum(t.written for t in result.tables)} of them "
            f"written by this run; {len(result.rejects)} reject(s) in {rejects_file}; "
            f"id mapping in {ids_file}",
            highlight=False,
        )
    if result.stopped_at is not None:
        stopped = next(t for t in result.tables if t.source == result.stopped_at)
        err.print(
            f"stopped: {stopped.rejected_rows} of {stopped.rows} rows of {stopped.source} have rejects "
            f"({stopped.share:.1%} > threshold {plan.threshold:.1%}); see {rejects_file}",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(1)
    if verify and not _verify(plan, analysis, target, tooling, rejects_file, True, fast=fast):
        raise typer.Exit(1)


def _ids(monolith: Path, table: str, analysis: Analysis, plan: Plan) -> set[int]:
    from isles.tools.split.analyse import open_readonly
    from isles.tools.split.ids import identity_of, monolith_ids

    with open_readonly(monolith) as db:
        return monolith_ids(db, analysis, table, identity_of(plan, analysis, table))


@split_app.command("verify")
def verify_command(
    monolith: MonolithArg,
    plan_file: Annotated[Path, typer.Option("--plan", "-p", help="The plan (TOML) the run used.")],
    rejects: RejectsOption = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast/--no-fast",
            help="On PostgreSQL, compare each row's COPY text (SQLite's for the clean rows, as the run writes them) "
            "with the text COPY reads back, and only the rows whose text differs value by value (docs/split.md). "
            "--no-fast converts and compares every row in Python: slower, the same result.",
        ),
    ] = True,
) -> None:
    """Compare the services' databases with the monolith after isles split run: per
    table the source rows (minus the rows rejected) against the target's, a checksum of
    every filled column per row (after the id rewrite), and every reference found in
    its owner's table or its parent a reject. On PostgreSQL the rows are compared as
    COPY text first and only those whose text differs value by value (--no-fast: every
    row value by value; the same result, slower). Exit code 0: they match; 1:
    differences (listed), or a database failed; 2: bad input (a target database
    missing or not migrated: none is created).

    Example: isles split verify --plan plan.toml monolith.sqlite
    """
    plan, analysis, target = _checked_plan(plan_file, monolith)
    tooling, _ = _databases(_target_services(target))
    if not _verify(
        plan, analysis, target, tooling, rejects or plan_file.with_name("rejects.csv"), rejects is not None, fast=fast
    ):
        raise typer.Exit(1)


def _target_services(target: Target) -> list[str]:
    """The services whose tables verify reads: every service of the target system."""
    return sorted({t.split(".")[0] for t in target.tables})


def _verify(
    plan: Plan,
    analysis: Analysis,
    target: Target,
    tooling: Tooling,
    rejects_file: Path,
    named: bool,
    *,
    fast: bool,
) -> bool:
    """Verify the services' databases against the monolith and print the report
    (``split verify``, and ``split run --verify`` in the run's own process): True where
    they match."""
    from rich.markup import escape
    from rich.table import Table

    from isles.cli.common import run_db
    from isles.tools.split import SplitError
    from isles.tools.split.results import Reject, read_rejects
    from isles.tools.split.verify import VerifyResult, verify

    there = rejects_file.exists()
    try:
        # a file named on the command line (``named``) must be there: read_rejects says so
        rejected: list[Reject] = read_rejects(rejects_file) if there or named else []
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc
    dbs = {s: tooling[s].db for s in _target_services(target)}

    async def work() -> VerifyResult:
        await _targets_there(plan, _planned_services(plan), dbs)
        return await verify(plan, analysis, target, tooling.system, dbs, rejected, fast=fast)

    try:
        result: VerifyResult = run_db(tooling, work)
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc
    table = Table("monolith table", "target", "expected", "found", "missing", "differing", "", title="split verify")
    for t in result.tables:
        table.add_row(
            t.source, t.target, str(t.expected), str(t.found), str(t.missing), str(t.differing), "ok" if t.ok else "NO"
        )
    out.print(table)
    for t in result.tables:
        for sample in t.samples:
            out.print(f"{t.source}: {sample}", highlight=False, markup=False)
    for line in result.unresolved[:20]:
        out.print(f"unresolved reference: {line}", highlight=False, markup=False)
    read = f"in {rejects_file}" if there else f"no rejects file at {rejects_file}: every row expected"
    out.print(
        f"references: {result.references} checked, {len(result.unresolved)} unresolved, "
        f"{result.reported} to a rejected row ({read})",
        highlight=False,
    )
    if not result.ok:
        err.print("the services' databases do not match the monolith", highlight=False)
        return False
    out.print("verified: every table matches the monolith", highlight=False)
    return True


@split_app.command("rollback")
def rollback_command(
    monolith: MonolithArg,
    plan_file: Annotated[Path, typer.Option("--plan", "-p", help="The plan (TOML) the run used.")],
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows deleted per transaction.")] = 1000,
) -> None:
    """Undo isles split run: delete exactly the rows it wrote (found by its id mapping,
    <plan>.ids.sqlite, and the plan), children before parents, and the copies it filled,
    in batches of one transaction each, without events. Rows the run did not write are
    left alone; a rerun after a kill finishes the job. Exit code 0: rolled back; 1: rows
    the database would not delete (a row the run did not write refers to them: listed);
    2: bad input (no id mapping: one line naming it).

    Example: isles split rollback --plan plan.toml monolith.sqlite
    """
    from rich.markup import escape
    from rich.table import Table

    from isles.cli.common import run_db
    from isles.tools.split import SplitError
    from isles.tools.split.ids import check_targets
    from isles.tools.split.rollback import RollbackResult, read_gone_ids, read_ids, rollback

    ids_file = plan_file.with_suffix(".ids.sqlite")
    try:
        ids = read_ids(ids_file)
        gone = read_gone_ids(ids_file)
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc
    plan, analysis, target = _checked_plan(plan_file, monolith)
    services = _planned_services(plan)
    tooling, dbs = _databases(services)
    try:
        check_targets(ids_file, _urls(dbs))
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc

    with _bars("deleting from") as progress:

        async def work() -> RollbackResult:
            for service in services:
                if not await dbs[service].exists():
                    raise SplitError(f"{service}: no database (nothing to roll back there)")
            return await rollback(
                plan, analysis, target, tooling.system, dbs, ids, batch=batch, progress=progress, gone=gone
            )

        try:
            result: RollbackResult = run_db(tooling, work)
        except SplitError as exc:
            raise fail(escape(str(exc))) from exc

    table = Table("target", "run's ids", "deleted now", "left", title="split rollback")
    for t in result.tables:
        table.add_row(t.target, str(t.ids), str(t.deleted), str(len(t.left)) if t.left else "")
    out.print(table)
    for full, ident, why in result.left:
        out.print(f"left: {full} {ident}: {why}", highlight=False, markup=False)
    out.print(f"{result.deleted} rows deleted (the run's ids from {ids_file})", highlight=False)
    if result.left:
        err.print(
            f"{len(result.left)} row(s) not deleted: rows the run did not write refer to them; "
            "remove or repoint those, then roll back again",
            highlight=False,
        )
        raise typer.Exit(1)
    out.print("rolled back: the rows the run wrote are gone", highlight=False)
