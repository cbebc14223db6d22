"""What the linter reads, whatever it came from (SQL, Prisma, Isles metadata, a live
database, Alembic migrations): tables with their columns, keys and indexes, and
migrations as lists of changes. Every item knows where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


class LintInputError(Exception):
    """An input the linter cannot read: one line saying what and where (exit code 2)."""


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Column:
    name: str
    type: str  # lower case, without arguments: uuid, varchar, text, integer, jsonb, ...
    loc: Location
    nullable: bool = True
    default: str | None = None
    reference: str | None = None  # a declared reference to another service: "service.table"
    field: str | None = None  # the Prisma field name, where it differs from the column
    written: str | None = None  # an unquoted SQL name as written, where PostgreSQL folds it (projectName)


@dataclass
class ForeignKey:
    columns: tuple[str, ...]
    target_table: str
    target_schema: str | None
    loc: Location
    target_model: str | None = None  # a Prisma relation's model


@dataclass
class Index:
    name: str | None
    columns: tuple[str, ...]
    loc: Location
    unique: bool = False
    constraint: bool = False  # a PRIMARY KEY / UNIQUE constraint's own index (not named by us)


@dataclass
class Table:
    name: str
    loc: Location
    service: str | None = None
    schema: str | None = None
    columns: list[Column] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    model: str | None = None  # the Prisma model
    mapped: bool = True  # a Prisma model with @@map (else the table is named as the model)
    written: str | None = None  # an unquoted SQL name as written, where PostgreSQL folds it

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def leads_an_index(self, column: str) -> bool:
        if self.primary_key[:1] == (column,):
            return True
        return any(i.columns[:1] == (column,) for i in self.indexes)


ChangeKind = Literal[
    "create_table",
    "add_column",
    "drop_table",
    "drop_column",
    "rename_table",
    "rename_column",
    "alter_type",
    "set_not_null",
    "add_not_null_column",
    "create_index",
]


@dataclass
class Change:
    kind: ChangeKind
    table: str
    loc: Location
    column: str | None = None
    concurrently: bool = False
    detail: str = ""


@dataclass
class Migration:
    name: str
    loc: Location
    service: str | None = None
    changes: list[Change] = field(default_factory=list)
    # "present", or why not: no downgrade at all, or one that does nothing. None: the
    # format has no downgrades in the same file (plain SQL without a .down.sql pair).
    downgrade: Literal["present", "missing", "empty"] | None = None
    downgrade_loc: Location | None = None
    # Foreign keys added by ALTER TABLE to tables not created in this file.
    foreign_keys: list[tuple[str, ForeignKey]] = field(default_factory=list)

    @property
    def created_tables(self) -> set[str]:
        return {c.table for c in self.changes if c.kind == "create_table"}

    @property
    def added_columns(self) -> set[tuple[str, str | None]]:
        return {(c.table, c.column) for c in self.changes if c.kind == "add_column"}


@dataclass
class Finding:
    code: str
    severity: Severity
    message: str
    hint: str
    loc: Location
    rule: str

    def sort_key(self) -> tuple[Location, str]:
        return (self.loc, self.code)


@dataclass
class Project:
    """Everything read, with the service map: which service owns which table."""

    tables: list[Table] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)  # table -> service
    models: dict[str, str] = field(default_factory=dict)  # Prisma model -> service
    suppressions: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)  # (file, line) -> code -> reason
    files: int = 0
    extra: list[Finding] = field(default_factory=list)  # what reading found (suppressions without reason)

    def owner(self, table: str, schema: str | None = None) -> str | None:
        if table in self.owners:
            return self.owners[table]
        if schema and schema not in ("public", "pg_catalog"):
            return schema
        return None
