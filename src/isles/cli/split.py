"""``isles split plan`` and ``isles split check``: analyse a monolith's SQLite file and
propose a plan mapping its tables onto the system's services; check a plan edited by
hand (:mod:`isles.ops.split`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from isles.cli.common import app, err, fail, load_system, out

if TYPE_CHECKING:
    from isles.ops.split.analyse import Analysis
    from isles.ops.split.plan import Plan, Problem

split_app = typer.Typer(
    help="Take a monolith's SQLite database apart into the system's services: analyse, plan, check.",
    no_args_is_help=True,
)
app.add_typer(split_app, name="split")

MonolithArg = Annotated[Path, typer.Argument(help="The monolith's SQLite file (opened read-only).")]


def _analyse(monolith: Path) -> Analysis:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress

    from isles.ops.split import SplitError
    from isles.ops.split.analyse import analyse

    try:
        with Progress(transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task(f"analysing {monolith.name}", total=None)
            return analyse(monolith, progress=lambda table: bar.update(task, description=f"analysed {table}"))
    except SplitError as exc:
        raise fail(escape(str(exc))) from exc


def _summary(analysis: Analysis, plan: Plan) -> None:
    from rich.table import Table

    from isles.ops.split.analyse import ANOMALY_TEXT

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
    from isles.ops.split.plan import propose, target_of, write_plan

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

    from isles.ops.split import SplitError
    from isles.ops.split.plan import check_plan, read_plan, target_of

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
