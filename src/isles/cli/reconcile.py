"""``isles reconcile``: a service restored to an earlier point, made whole again from
its peers' outboxes and inboxes (:mod:`isles.tools.reconcile`; docs/backup.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from isles.cli.common import app, err, fail, make_runtime, make_tooling, out, run_db, selected

if TYPE_CHECKING:
    from isles.tools.reconcile import ReconcileReport


class ReconcileFormat(StrEnum):
    text = "text"
    json = "json"


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--since: {value!r} is not an ISO 8601 time (2026-11-29T10:00:00Z)") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _taken(folder: Path, service: str) -> datetime:
    """When ``service``'s snapshot in the backup ``folder`` was taken (its manifest)."""
    from isles.tools.backup import BackupError, Manifest

    try:
        manifest = Manifest.read(folder)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    entry = next((s for s in manifest.services if s.service == service), None)
    if entry is None:
        raise fail(f"{folder / 'manifest.json'}: no backup of {service} in it")
    return datetime.fromisoformat(entry.started_at)


@app.command("reconcile")
def reconcile_command(
    service: Annotated[str, typer.Argument(help="The service whose database was restored.")],
    since: Annotated[
        str | None,
        typer.Option(
            help="Look for lost events the peers applied from this time on (ISO 8601; default: the newest "
            "event in the restored service's outbox; the backup's time is a good choice)."
        ),
    ] = None,
    backup: Annotated[
        Path | None,
        typer.Option(
            "--backup",
            help="The backup folder the service was restored from: --since is the time its snapshot was taken.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the missed events; apply nothing.")] = False,
    fmt: Annotated[ReconcileFormat, typer.Option("--format", "-f", help="text or json.")] = ReconcileFormat.text,
    samples: Annotated[int, typer.Option(min=0, help="Lost events shown.")] = 20,
) -> None:
    """Reconcile a service restored from a backup with its peers. Events it should
    have received that its inbox no longer holds are taken from the producers'
    outboxes (kept ISLES_OUTBOX_RETENTION_SECONDS after publishing) and applied
    through its own consumer, idempotently, in each producer's order. Events it
    published that its peers applied and its outbox no longer holds — state the
    restore lost — are reported with their aggregates. Run it after isles restore
    of one service, with or without the system running; then isles audit.
    Exit 0 reconciled, 1 lost events, a gap or an event that did not apply, 2 bad input.

    Example: isles reconcile project
    isles reconcile project --dry-run --format json
    isles reconcile employee --since 2026-11-29T07:48:02Z
    isles reconcile project --backup .isles/backups/20261129T074802.123Z
    """
    from isles.tools.reconcile import reconcile

    at = _since(since)
    if backup is not None:
        if at is not None:
            raise fail("give --since or --backup, not both")
        at = _taken(backup, service)
    # every service's database there, first (none is created: a missing one is the
    # wrong place, and reconciling an empty one reads nothing)
    tooling = make_tooling()

    async def readable() -> None:
        for name in tooling.services:
            await tooling[name].readable()

    run_db(tooling, readable)
    runtime = make_runtime()  # it applies events: the service's consumer
    selected(runtime, service)
    consumer = None if dry_run else runtime[service].consumer

    async def go() -> ReconcileReport:
        dbs = {name: runtime[name].db for name in runtime.services}
        return await reconcile(
            runtime.system,
            dbs,
            service,
            consumer=consumer,
            since=at,
            samples=samples,
            progress=lambda message: err.print(message, highlight=False, markup=False),
        )

    report: ReconcileReport = run_db(runtime, go)
    if fmt is ReconcileFormat.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        out.print(render_text(report), highlight=False, markup=False)
    raise typer.Exit(1 if report.findings else 0)


def render_text(report: ReconcileReport) -> str:
    lines = [f"reconcile {report.service}" + (" (dry run)" if report.dry_run else "")]
    missed = sum(report.missed.values())
    if missed:
        lines.append(f"missed: {missed} event(s) in producers' outboxes, not in the inbox")
        lines += [f"  {p} {t}: {n}" for (p, t), n in sorted(report.missed.items())]
        if not report.dry_run:
            lines.append(
                f"  applied {report.applied}, parked {report.parked} (isles dlq list --service {report.service}), "
                f"not applied {report.not_applied}"
            )
    else:
        lines.append("missed: none (every event of its producers' outboxes is in its inbox)")
    since = report.since.isoformat() if report.since else "the beginning"
    lost = sum(report.lost.values())
    if lost:
        lines.append(f"lost: {lost} event(s) its peers applied since {since} that its outbox no longer holds")
        lines += [f"  {p} applied {t}: {n}" for (p, t), n in sorted(report.lost.items())]
        for event_type, ids in sorted(report.lost_aggregates.items()):
            shown = sorted(ids)[:10]
            more = f" and {len(ids) - len(shown)} more" if len(ids) > len(shown) else ""
            lines.append(f"  {event_type} aggregates: {', '.join(shown)}{more}")
        lines.append("  the restore lost these changes: redo them (the peers hold their effects)")
    else:
        lines.append(f"lost: none since {since}")
    lines += [f"gap: {g}" for g in report.gaps]
    lines.append(f"{report.seconds:.2f} s")
    return "\n".join(lines)
