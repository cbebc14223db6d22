"""The database lead's review (seed 002), rule by rule. Each rule has a stable code,
a name, a default severity, a one-line message per finding, a fix hint, and a doc
page (``docs/lint/<CODE>.md``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from isles.lint.model import Change, Finding, ForeignKey, Location, Migration, Project, Severity, Table

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PASCAL = re.compile(r"^[A-Z][a-zA-Z0-9]*$")
#: Plural words that do not end in "s" (and words that are their own plural).
_PLURAL = {"people", "children", "men", "women", "data", "media", "criteria", "metadata", "staff", "feedback"}
_SINGULAR_S = ("ss", "us", "is", "ics")  # address, status, analysis, analytics
#: Tables the platform and tools own, not a service's design.
IGNORED_TABLES = {"alembic_version", "isles_kernel_version", "_prisma_migrations"}
#: The columns a declared change history (``isles.add_history``) adds to ``<table>_history``.
HISTORY_COLUMNS = {"history_id", "valid_to", "changed_by", "change_reason"}


def is_history(table: Table) -> bool:
    """A platform-made change history table (its migration is reviewed too, so by shape)."""
    return table.name.endswith("_history") and {c.name for c in table.columns} >= HISTORY_COLUMNS


TIMESTAMP = ("created_at", "updated_at")
MULTI_STEP = (
    "the multi-step procedure: add the new column, backfill it, deploy code that uses it, "
    "then make it required, and drop the old one in a later release"
)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    hint: str

    @property
    def doc(self) -> str:
        return f"docs/lint/{self.code}.md"


RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule(
            "ISL001",
            "suppression-reason",
            "error",
            "an inline suppression says why",
            "write the reason after the brackets: isles: ignore[CODE] <reason>",
        ),
        Rule(
            "ISL100",
            "cross-service-reference",
            "error",
            "no foreign key or relation to another service's table",
            "keep the id as a plain indexed UUID column (no constraint) and sync what you need by events",
        ),
        Rule(
            "ISL201",
            "table-name",
            "error",
            "table names are snake_case and plural",
            'rename the table (Prisma: @@map("plural_snake_case"))',
        ),
        Rule("ISL202", "column-name", "error", "column names are snake_case", 'rename it (Prisma: @map("snake_case"))'),
        Rule(
            "ISL203",
            "model-name",
            "error",
            "Prisma models are PascalCase and singular, mapped to their plural table with @@map",
            'name the model in the singular and add @@map("plural_table")',
        ),
        Rule(
            "ISL204",
            "index-name",
            "warning",
            "index names are idx_<table>_<columns>",
            'name it idx_<table>_<column>_<column> (Prisma: @@index([...], name: "idx_..."))',
        ),
        Rule(
            "ISL301",
            "uuid-primary-key",
            "error",
            "a table's own key is a UUID",
            "use id UUID PRIMARY KEY DEFAULT gen_random_uuid() (Prisma: String @id @default(uuid()) @db.Uuid)",
        ),
        Rule(
            "ISL302",
            "unindexed-reference",
            "error",
            "reference columns (declared, foreign keys, *_id, *_ref) lead an index",
            "CREATE INDEX idx_<table>_<column> ON <table>(<column>) (Prisma: @@index([field]))",
        ),
        Rule(
            "ISL303",
            "timestamps",
            "warning",
            "tables have created_at and updated_at",
            "add created_at and updated_at TIMESTAMP columns (Prisma: @default(now()) and @updatedAt)",
        ),
        Rule(
            "ISL304",
            "unindexed-soft-delete",
            "warning",
            "a deleted_at soft-delete column is indexed",
            "CREATE INDEX idx_<table>_deleted_at ON <table>(deleted_at) (Prisma: @@index([deletedAt]))",
        ),
        Rule(
            "ISL305",
            "json-column",
            "info",
            "JSON columns are for flexible, unqueried data only (use them sparingly)",
            "if the data is queried or relational, make it columns or a table",
        ),
        Rule(
            "ISL401",
            "reversible-migration",
            "error",
            "a migration has a downgrade that does something",
            "write the downgrade that undoes the upgrade (or a .down.sql beside the .up.sql)",
        ),
        Rule(
            "ISL402",
            "breaking-change",
            "error",
            "breaking changes go in several steps, documented",
            f"use {MULTI_STEP}; suppress with the reason once documented",
        ),
        Rule(
            "ISL403",
            "index-concurrently",
            "warning",
            "indexes on existing tables are built CONCURRENTLY (PostgreSQL)",
            "CREATE INDEX CONCURRENTLY ... outside a transaction (Alembic: postgresql_concurrently=True)",
        ),
    )
}


def is_plural(name: str) -> bool:
    word = name.rsplit("_", 1)[-1]
    if word in _PLURAL:
        return True
    return word.endswith("s") and not word.endswith(_SINGULAR_S)


def is_singular(name: str) -> bool:
    words = re.findall(r"[A-Z][a-z0-9]*", name)
    word = (words[-1] if words else name).lower()
    return word not in _PLURAL and (not word.endswith("s") or word.endswith(_SINGULAR_S))


def _finding(code: str, message: str, loc: Location) -> Finding:
    rule = RULES[code]
    return Finding(code, rule.severity, message, rule.hint, loc, rule.name)


def _own_tables(project: Project) -> dict[str | None, set[str]]:
    """Per service, the tables it owns: those it defines, and those the map gives it."""
    own: dict[str | None, set[str]] = {}
    for t in project.tables:
        own.setdefault(t.service, set()).add(t.name)
    for table_name, service in project.owners.items():
        own.setdefault(service, set()).add(table_name)
    return own


def check_tables(project: Project) -> Iterator[Finding]:
    own_tables = _own_tables(project)
    for table in project.tables:
        if table.name in IGNORED_TABLES or is_history(table):
            continue
        yield from _names(table)
        yield from _keys(table)
        yield from _cross_service(table, project, own_tables.get(table.service, set()))


def _names(table: Table) -> Iterator[Finding]:
    where = table.loc
    if table.model is not None:
        if not PASCAL.match(table.model) or not is_singular(table.model):
            yield _finding("ISL203", f"model {table.model} should be PascalCase and singular", where)
        if not table.mapped:
            yield _finding("ISL203", f"model {table.model} has no @@map to a plural snake_case table", where)
    if table.written is not None:  # unquoted camelCase: PostgreSQL folds it, the reader sees it
        yield _finding(
            "ISL201", f"table {table.written} should be snake_case (PostgreSQL folds it to {table.name})", where
        )
    elif table.mapped and (not SNAKE.match(table.name) or not is_plural(table.name)):
        yield _finding("ISL201", f"table {table.name} should be snake_case and plural", where)
    for column in table.columns:
        if column.written is not None:
            yield _finding(
                "ISL202",
                f"column {table.name}.{column.written} should be snake_case (PostgreSQL folds it to {column.name})",
                column.loc,
            )
        elif not SNAKE.match(column.name):
            yield _finding("ISL202", f"column {table.name}.{column.name} should be snake_case", column.loc)
    for index in table.indexes:
        if index.constraint:
            continue
        expected = "idx_" + "_".join((table.name, *index.columns))
        if index.name is None:
            yield _finding(
                "ISL204",
                f"index on {table.name}({', '.join(index.columns)}) has no name; call it {expected}",
                index.loc,
            )
        elif not index.name.startswith(f"idx_{table.name}_") and not (
            # A unique index (a partial one: unique among the live rows) is named
            # like the unique constraint it stands for.
            index.unique and index.name.startswith(f"uq_{table.name}_")
        ):
            yield _finding("ISL204", f"index {index.name} should be named {expected}", index.loc)


def _keys(table: Table) -> Iterator[Finding]:
    pk = table.primary_key
    if not pk:
        yield _finding("ISL301", f"table {table.name} has no primary key", table.loc)
    elif len(pk) == 1:
        column = table.column(pk[0])
        if column is not None and column.type != "uuid":
            yield _finding("ISL301", f"{table.name}.{column.name} is the key but {column.type}, not uuid", column.loc)
    fk_columns = {c for fk in table.foreign_keys for c in fk.columns}
    for column in table.columns:
        is_reference = (
            column.reference is not None
            or column.name in fk_columns
            or column.name.endswith(("_id", "_ref"))  # *_ref: another service's entity (ADR-0005, seed 003)
        )
        if is_reference and not table.leads_an_index(column.name):
            yield _finding("ISL302", f"reference column {table.name}.{column.name} is not indexed", column.loc)
        if column.name == "deleted_at" and not table.leads_an_index(column.name):
            yield _finding("ISL304", f"soft-delete column {table.name}.deleted_at is not indexed", column.loc)
        if column.type in ("json", "jsonb"):
            yield _finding("ISL305", f"{table.name}.{column.name} is {column.type}: review its use", column.loc)
    names = {c.name for c in table.columns}
    missing = [t for t in TIMESTAMP if t not in names]
    if missing and table.columns:
        yield _finding("ISL303", f"table {table.name} has no {' or '.join(missing)}", table.loc)


def _cross_service(table: Table, project: Project, own: set[str]) -> Iterator[Finding]:
    yield from _foreign_keys(table, table.foreign_keys, project, own)


def _foreign_keys(table: Table, keys: list[ForeignKey], project: Project, own: set[str]) -> Iterator[Finding]:
    for fk in keys:
        if fk.target_model is not None:
            owner = project.models.get(fk.target_model)
            if owner is not None and table.service is not None and owner != table.service:
                yield _finding(
                    "ISL100", f"relation {table.model}.{fk.target_model} reaches {owner}, another service", fk.loc
                )
            elif owner is None and fk.target_model not in {
                t.model for t in project.tables if t.service == table.service
            }:
                yield _finding(
                    "ISL100",
                    f"relation to model {fk.target_model}, which this service's schema does not define",
                    fk.loc,
                )
            continue
        owner = project.owner(fk.target_table, fk.target_schema)
        target = f"{fk.target_schema}.{fk.target_table}" if fk.target_schema else fk.target_table
        refs = [c for c in fk.columns if c.endswith("_ref")]
        # A table in a schema of its own other than the file's: another service's,
        # whatever service (if any) the file is known to be.
        elsewhere = fk.target_schema not in (None, "public") and fk.target_schema != (table.schema or table.service)
        if refs:
            yield _finding(
                "ISL100",
                f"foreign key {table.name}({', '.join(fk.columns)}) -> {target}: {refs[0]} is a reference to "
                "another service's entity (a *_ref column): keep the id, drop the foreign key",
                fk.loc,
            )
        elif owner is not None and owner != table.service and (table.service is not None or elsewhere):
            yield _finding(
                "ISL100", f"foreign key {table.name}({', '.join(fk.columns)}) -> {target}: a table of {owner}", fk.loc
            )
        elif owner is None and fk.target_table not in own:
            yield _finding(
                "ISL100",
                f"foreign key {table.name}({', '.join(fk.columns)}) -> {target}: a table this service does not own",
                fk.loc,
            )


def check_migrations(project: Project) -> Iterator[Finding]:
    own_tables = _own_tables(project)
    for migration in project.migrations:
        for table_name, fk in migration.foreign_keys:
            stub = Table(name=table_name, loc=fk.loc, service=migration.service)
            own = own_tables.get(migration.service, set()) | {table_name}
            yield from _foreign_keys(stub, [fk], project, own)
        if migration.downgrade in ("missing", "empty"):
            where = migration.downgrade_loc or migration.loc
            what = "has no downgrade" if migration.downgrade == "missing" else "has a downgrade that does nothing"
            yield _finding("ISL401", f"migration {migration.name} {what}", where)
        created, added = migration.created_tables, migration.added_columns
        for change in migration.changes:
            if (change.table, change.column) in added and change.kind in ("set_not_null", "alter_type"):
                continue  # a column added by this very migration has no readers yet
            yield from _change(change, created, migration)


_BREAKING = {
    "drop_table": "drops table {table}",
    "drop_column": "drops column {table}.{column}",
    "rename_table": "renames table {table} {detail}",
    "rename_column": "renames column {table}.{column} {detail}",
    "alter_type": "changes the type of {table}.{column} {detail}",
    "set_not_null": "makes {table}.{column} required",
    "add_not_null_column": "adds required column {table}.{column} without a default",
}


def _change(change: Change, created: set[str], migration: Migration) -> Iterator[Finding]:
    if change.table in created and change.kind != "create_table":
        return  # a table made in the same migration has no readers yet
    template = _BREAKING.get(change.kind)
    if template is not None:
        what = template.format(table=change.table, column=change.column, detail=change.detail).strip()
        yield _finding("ISL402", f"breaking change: {what}", change.loc)
    if change.kind == "create_index" and not change.concurrently:
        name = f" {change.detail}" if change.detail else ""
        yield _finding("ISL403", f"index{name} on existing table {change.table} built without CONCURRENTLY", change.loc)
