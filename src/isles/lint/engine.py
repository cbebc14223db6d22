"""Read the inputs into a :class:`Project`, run the rules, apply the configuration
and the inline suppressions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from isles.lint import prisma, sql, suppress
from isles.lint.config import LintConfig
from isles.lint.model import Finding, LintInputError, Project
from isles.lint.rules import check_migrations, check_tables

SUFFIXES = (".sql", ".prisma")
_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".isles"}


def files_of(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                wanted = child.suffix in SUFFIXES and not child.name.endswith(".down.sql")
                if wanted and child.is_file() and not _SKIP_DIRS & set(child.parts):
                    found.append(child)
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise LintInputError(f"{path}: not a .sql or .prisma file")
            found.append(path)
        else:
            raise LintInputError(f"{path}: no such file or folder")
    return found


def _service_for(path: Path, service: str | None, config: LintConfig) -> str | None:
    if service:
        return service
    named = config.service_of(path)
    if named:
        return named
    if path.suffix == ".prisma":  # packages/<service>/prisma/schema.prisma
        parent = path.parent
        return parent.parent.name if parent.name == "prisma" else parent.name
    return None


def read_files(
    paths: Iterable[Path], *, service: str | None, config: LintConfig, project: Project | None = None
) -> Project:
    project = project or Project()
    mapped = config.owners()
    project.owners.update(mapped)
    for path in files_of(paths):
        owner = _service_for(path, service, config)
        text = path.read_text(encoding="utf-8", errors="replace")
        kind = "sql" if path.suffix == ".sql" else "prisma"
        found, bad = suppress.scan(str(path), text, kind)
        project.suppressions.update(found)
        project.extra.extend(bad)
        project.files += 1
        if kind == "sql":
            tables, migration = sql.read_sql(path, owner)
            if migration.changes or migration.foreign_keys or migration.downgrade is not None:
                project.migrations.append(migration)
        else:
            tables = prisma.read_prisma(path, owner)
        for t in tables:
            # The config's service map wins over the file: a schema may hold tables and
            # models other services own (a monolith's schema being split up).
            t.service = mapped.get(t.name, owner)
            if t.model and t.service:
                project.models.setdefault(t.model, t.service)
        project.tables.extend(tables)
    return project


def lint(project: Project, config: LintConfig, extra: Iterable[Finding] = ()) -> list[Finding]:
    """Every finding, after the configuration and the suppressions, in file order."""
    results: list[Finding] = []
    for finding in (*extra, *project.extra, *check_tables(project), *check_migrations(project)):
        kept = config.apply(finding)
        if kept is None:
            continue
        suppressed = project.suppressions.get((kept.loc.file, kept.loc.line), {})
        if kept.code in suppressed and kept.code != "ISL001":
            continue
        results.append(kept)
    return sorted(results, key=Finding.sort_key)


def exit_code(findings: Iterable[Finding]) -> int:
    return 1 if any(f.severity == "error" for f in findings) else 0
