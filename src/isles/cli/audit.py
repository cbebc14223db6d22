"""``isles audit``: consistency across the services' databases (orphaned references,
stale, missing and extra copies) and the event pipeline's health, from the services'
declarations (:mod:`isles.service.audit`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from isles.cli.common import app, err, fail, make_tooling, out, run_db

if TYPE_CHECKING:
    from isles.service.audit import AuditReport, Repair


class AuditFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


@app.command("audit")
def audit_command(
    fmt: Annotated[AuditFormat, typer.Option("--format", "-f", help="text, json or markdown.")] = AuditFormat.text,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Check only the declarations whose name contains this (repeatable)."),
    ] = None,
    settle: Annotated[
        float,
        typer.Option(
            help="Seconds to wait before looking again at stale or missing copies: a change in flight "
            "is reported only if the copy has still not reached the owner's version of the first look."
        ),
    ] = 5.0,
    chunk: Annotated[int, typer.Option(min=100, help="Rows read per query (memory stays bounded by it).")] = 5000,
    samples: Annotated[int, typer.Option(min=0, help="Ids shown per declaration.")] = 20,
    window: Annotated[
        float,
        typer.Option(
            min=0,
            help="Hours of pipeline history looked at: failed and compensated sagas, the consumer lag, "
            "the failed-processing rate.",
        ),
    ] = 1.0,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Re-sync stale, missing and differing copies: their owners re-publish the rows' current state "
            "through their outboxes (the running system's relays deliver it). Orphaned references: "
            "as each declares (report only, the default; nullify; mark).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --repair: say what would be re-sent or changed.")
    ] = False,
    values: Annotated[
        bool,
        typer.Option(
            "--values",
            help="Compare copies' values with their owners' at the same version too (the owner's Resend "
            "event projected as the copy projects it): reads every row of both sides, slower.",
        ),
    ] = False,
) -> None:
    """Audit the system's data: every declared reference (is the referenced row there,
    and alive where the reference says it matters?), every copy (ReplicaTable: stale,
    missing, extra rows; DenormalizedColumns: stale keys; with --values, rows whose
    values differ at the owner's version) and every service's pipeline (outbox
    backlog, oldest unpublished event, dead letters, failed and compensated sagas).
    Read-only but for --repair; on PostgreSQL it reads as each service's read-only
    role where one is given (ISLES_<SERVICE>_READER_URL, written by isles db
    provision). Exit 0 clean, 1 findings, 2 could not run.

    Example: isles audit
    isles --system shop audit --format json --settle 0
    isles audit --only employee_copies --format markdown
    isles audit --values --only employee_copies
    isles audit --repair --dry-run
    """
    from isles.service.audit import audit
    from isles.service.audit import repair as repair_copies

    tooling = make_tooling()

    repairs: list[Repair] = []

    async def go() -> AuditReport:
        # Reads go through each service's read-only role where one is given
        # (ISLES_<SERVICE>_READER_URL); only a repair writes, as the service's own role.
        readers = {s.name: tooling.reader(s.name) for s in tooling.system.services}
        for name, db in readers.items():  # read-only: a database that is not there is not made
            try:
                there = await db.exists()
            except Exception as exc:  # asyncpg's own (a role refused, a password): not SQLAlchemy's
                raise fail(f"database error: {name}: {str(exc).splitlines()[0]}") from exc
            if not there:
                where = db.url.render_as_string(hide_password=True)
                raise fail(
                    f"{name}: no database at {where}: the audit reads every service's database and makes none "
                    "(give --data-dir or --database-url where the system is, or restore it first)"
                )
        found = await audit(
            tooling.system,
            readers,
            only=only or (),
            chunk=chunk,
            samples=samples,
            settle=settle,
            window=timedelta(hours=window),
            values=values,
            # On stderr (the report is stdout): a settle is a wait the user should see.
            progress=lambda message: err.print(message, highlight=False, markup=False),
        )
        found.read_as = {name: db.url.username or "" for name, db in readers.items()}
        if repair:
            dbs = {s.name: tooling[s.name].db for s in tooling.system.services}
            repairs.extend(await repair_copies(tooling.system, dbs, found, dry_run=dry_run))
        return found

    try:
        report: AuditReport = run_db(tooling, go)
    except typer.Exit as exc:  # a database could not be read: the audit could not run
        raise typer.Exit(2) from exc
    if fmt is AuditFormat.json:
        body = report.to_json()
        if repair:
            body["repairs"] = [asdict(r) for r in repairs]
        print(json.dumps(body, indent=2, default=str))
    elif fmt is AuditFormat.markdown:
        print(render_markdown(report))
    else:
        out.print(render_text(report), highlight=False, markup=False)
    if fmt is not AuditFormat.json:
        for r in repairs:
            out.print(f"repair {r.check}: {describe(r)}", highlight=False, markup=False)
    raise typer.Exit(1 if report.findings else 0)


def describe(r: Repair) -> str:
    """One repair in words."""
    if r.check.count(" -> "):  # an orphaned reference, mended by its policy
        if r.note.startswith("dry run"):
            return f"{r.keys} orphaned id(s): {r.note}"
        return f"{r.keys} orphaned id(s): {r.note}: {r.changed} row(s) changed, {r.resent} event(s) re-published"
    what = r.note or f"{r.resent} event(s) re-published by {r.owner.split('.')[0]}"
    return f"{r.keys} row(s): {what}"


def render_text(report: AuditReport) -> str:
    lines = [f"audit of {report.system}: {report.findings} finding(s) in {report.seconds:.2f} s"]
    roles = sorted({r for r in report.read_as.values() if r})
    if roles:
        lines.append(f"  read as {', '.join(roles)}")
    for c in report.checks:
        if c.skipped:
            lines.append(f"  skip  {c.kind:<12} {c.name}: {c.skipped}")
            continue
        state = "ok  " if not c.findings else "FAIL"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(c.counts.items())) or "clean"
        policy = f" (orphans: {c.policy})" if c.findings and c.policy else ""
        note = f"; {c.note}" if c.note else ""
        lines.append(f"  {state}  {c.kind:<12} {c.name}: {c.checked} checked, {counts}{policy}{note}")
        for f in c.samples:
            versions = f" (copy v{f.held}, owner v{f.owner})" if f.held is not None or f.owner is not None else ""
            detail = f": {f.detail}" if f.detail else ""
            lines.append(f"          {f.kind} {f.key}{versions}{detail}")
    for p in report.pipeline:
        state = "ok  " if not p.findings else "FAIL"
        dead = (
            ", ".join(
                f"{t}: {n} (oldest {p.dead_letter_ages.get(t, 0):.0f} s)" for t, n in sorted(p.dead_letters.items())
            )
            or "none"
        )
        lag = sum(p.consumer_lag.values())
        lines.append(
            f"  {state}  pipeline     {p.service}: outbox backlog {p.outbox_backlog}"
            f" (oldest {p.oldest_unpublished_seconds:.0f} s), consumer lag {lag}"
            f" (oldest {p.consumer_lag_seconds:.0f} s), dead letters {dead},"
            f" failed {p.failed_in_window} of {p.consumed_in_window} taken ({p.failure_rate:.2%}),"
            f" sagas failed {p.sagas_failed}, compensated {p.sagas_compensated}"
        )
    return "\n".join(lines)


def render_markdown(report: AuditReport) -> str:
    lines = [
        f"# Audit of `{report.system}`",
        "",
        f"{report.findings} finding(s) in {report.seconds:.2f} s.",
        "",
        "| service | kind | declaration | checked | findings | sample ids |",
        "|---|---|---|---|---|---|",
    ]
    for c in report.checks:
        counts = c.skipped or (", ".join(f"{n} {k}" for k, n in sorted(c.counts.items())) or "none")
        ids = ", ".join(f"`{f.key}`" for f in c.samples[:5])
        lines.append(f"| {c.service} | {c.kind} | `{c.name}` | {c.checked} | {counts} | {ids} |")
    lines += [
        "",
        "| service | outbox backlog | oldest unpublished (s) | consumer lag | oldest unconsumed (s) "
        "| dead letters | failed / taken | sagas failed | compensated |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in report.pipeline:
        dead = ", ".join(f"{t}: {n}" for t, n in sorted(p.dead_letters.items())) or "0"
        lag = ", ".join(f"{s}: {n}" for s, n in sorted(p.consumer_lag.items())) or "0"
        lines.append(
            f"| {p.service} | {p.outbox_backlog} | {p.oldest_unpublished_seconds:.0f} | {lag} |"
            f" {p.consumer_lag_seconds:.0f} | {dead} | {p.failed_in_window} / {p.consumed_in_window} |"
            f" {p.sagas_failed} | {p.sagas_compensated} |"
        )
    return "\n".join(lines)
