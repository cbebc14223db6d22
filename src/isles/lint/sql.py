"""Plain SQL DDL (PostgreSQL dialect), parsed with PostgreSQL's own parser (pglast):
``CREATE TABLE`` and ``CREATE INDEX`` give tables; every statement that changes a
table (``ALTER``, ``DROP``, ``RENAME``, ``CREATE INDEX``) is also a migration change.

A file named ``*.up.sql`` is a migration whose downgrade is the ``*.down.sql`` beside it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pglast import enums, parse_sql
from pglast.parser import ParseError

from isles.lint.model import Change, Column, ForeignKey, Index, LintInputError, Location, Migration, Table

#: "-- Reference to company service" and the like after a column: a declared reference.
_REFERENCE_COMMENT = re.compile(r"--\s*(?:reference|references|ref)\b[^\n]*", re.IGNORECASE)


class _Positions:
    """Line and column of an offset (pglast reports offsets in characters)."""

    def __init__(self, text: str) -> None:
        self.raw = text
        self.starts = [0]
        for i, char in enumerate(text):
            if char == "\n":
                self.starts.append(i + 1)

    def at(self, file: str, offset: int) -> Location:
        offset = max(0, min(offset, len(self.raw)))
        line = _bisect(self.starts, offset)
        return Location(file, line + 1, offset - self.starts[line] + 1)

    def line_text(self, line: int) -> str:
        start = self.starts[line - 1]
        end = self.starts[line] - 1 if line < len(self.starts) else len(self.raw)
        return self.raw[start:end]


def _bisect(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _type(type_name: Any) -> str:
    names: list[str] = [str(n.sval) for n in type_name.names]
    name = names[-1].lower()
    aliases = {"int4": "integer", "int8": "bigint", "int2": "smallint", "bool": "boolean", "float8": "double"}
    if type_name.arrayBounds:
        return aliases.get(name, name) + "[]"
    return aliases.get(name, name)


def _first_statement_offset(text: str, location: int) -> int:
    """Skip the whitespace and comments pglast counts into a statement's start."""
    i = location
    while i < len(text):
        if text[i : i + 2] == "--":
            i = text.find("\n", i)
            if i < 0:
                return len(text)
        elif text[i : i + 2] == "/*":
            end = text.find("*/", i)
            i = len(text) if end < 0 else end + 2
        elif text[i : i + 1].isspace():
            i += 1
        else:
            return i
    return location


def read_sql(path: Path, service: str | None, *, display: str | None = None) -> tuple[list[Table], Migration]:
    """Tables and the migration a SQL file holds. Raises LintInputError on bad SQL."""
    file = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LintInputError(f"{file}: cannot read: {exc}") from exc
    return parse(text, file, service, down=_down_file(path))


def _down_file(path: Path) -> Path | None:
    if path.name.endswith(".up.sql"):
        return path.with_name(path.name[: -len(".up.sql")] + ".down.sql")
    return None


def parse(text: str, file: str, service: str | None, *, down: Path | None = None) -> tuple[list[Table], Migration]:
    positions = _Positions(text)
    try:
        statements = parse_sql(text)
    except ParseError as exc:
        offset = exc.args[1] if len(exc.args) > 1 else None
        where = positions.at(file, offset) if isinstance(offset, int) else Location(file)
        raise LintInputError(f"{where}: not valid SQL: {exc.args[0] if exc.args else exc}") from exc
    tables: dict[str, Table] = {}
    migration = Migration(name=Path(file).name, loc=Location(file), service=service)
    if down is not None:
        migration.downgrade = _downgrade_state(down)
        migration.downgrade_loc = Location(str(down))

    def loc(offset: int) -> Location:
        return positions.at(file, offset)

    for raw in statements:
        stmt: Any = raw.stmt
        start = _first_statement_offset(positions.raw, raw.stmt_location or 0)
        where = loc(start)
        kind = type(stmt).__name__
        if kind == "CreateStmt":
            table = _create_table(stmt, where, service, loc, positions)
            tables[table.name] = table
            migration.changes.append(Change("create_table", table.name, where))
        elif kind == "IndexStmt":
            name = stmt.relation.relname
            columns = tuple(p.name for p in stmt.indexParams if p.name)
            index = Index(stmt.idxname, columns, where, unique=bool(stmt.unique))
            if name in tables:
                tables[name].indexes.append(index)
            migration.changes.append(
                Change("create_index", name, where, concurrently=bool(stmt.concurrent), detail=stmt.idxname or "")
            )
        elif kind == "AlterTableStmt":
            _alter_table(stmt, where, migration, tables, loc)
        elif kind == "RenameStmt":
            target = stmt.relation.relname if stmt.relation else ""
            if stmt.renameType == enums.ObjectType.OBJECT_COLUMN:
                migration.changes.append(
                    Change("rename_column", target, where, column=stmt.subname, detail=f"to {stmt.newname}")
                )
            elif stmt.renameType == enums.ObjectType.OBJECT_TABLE:
                migration.changes.append(Change("rename_table", target, where, detail=f"to {stmt.newname}"))
        elif kind == "DropStmt" and stmt.removeType == enums.ObjectType.OBJECT_TABLE:
            for names in stmt.objects:
                parts = [n.sval for n in names]
                migration.changes.append(Change("drop_table", parts[-1], where))
                tables.pop(parts[-1], None)
    return list(tables.values()), migration


def _downgrade_state(down: Path) -> Literal["present", "missing", "empty"]:
    if not down.is_file():
        return "missing"
    text = down.read_text(encoding="utf-8", errors="replace")
    body = "\n".join(line.split("--", 1)[0] for line in text.splitlines()).strip()
    return "present" if body else "empty"


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _as_written(positions: _Positions, offset: int | None, folded: str) -> str | None:
    """The unquoted name at ``offset`` as written, where it is not what PostgreSQL
    made of it (``projectName`` is the column ``projectname``); None otherwise."""
    if offset is None or offset < 0:
        return None
    match = _IDENTIFIER.match(positions.raw, offset)
    if match is None or match.group(0) == folded or match.group(0).lower() != folded:
        return None
    return match.group(0)


def _name_offset(raw: str, relation: Any) -> int | None:
    """Where a table's own name starts (a schema-qualified one: after the dot)."""
    start = relation.location
    if start is None or start < 0:
        return None
    if relation.schemaname:
        dot = raw.find(".", start)
        return None if dot < 0 else dot + 1
    return int(start)


def _create_table(stmt: Any, where: Location, service: str | None, loc: Any, positions: _Positions) -> Table:
    relation = stmt.relation
    table = Table(name=relation.relname, loc=where, service=service, schema=relation.schemaname)
    table.written = _as_written(positions, _name_offset(positions.raw, relation), relation.relname)
    primary: list[str] = []
    for element in stmt.tableElts or ():
        kind = type(element).__name__
        if kind == "ColumnDef":
            col_loc = loc(element.location)
            column = Column(name=element.colname, type=_type(element.typeName), loc=col_loc)
            column.written = _as_written(positions, element.location, element.colname)
            for constraint in element.constraints or ():
                ct = constraint.contype
                if ct == enums.ConstrType.CONSTR_NOTNULL:
                    column.nullable = False
                elif ct == enums.ConstrType.CONSTR_PRIMARY:
                    primary = [element.colname]
                    column.nullable = False
                elif ct == enums.ConstrType.CONSTR_UNIQUE:
                    table.indexes.append(Index(None, (element.colname,), col_loc, unique=True, constraint=True))
                elif ct == enums.ConstrType.CONSTR_DEFAULT:
                    column.default = "default"
                elif ct == enums.ConstrType.CONSTR_FOREIGN:
                    pk = constraint.pktable
                    table.foreign_keys.append(
                        ForeignKey((element.colname,), pk.relname, pk.schemaname, loc(constraint.location))
                    )
            if _REFERENCE_COMMENT.search(positions.line_text(col_loc.line)):
                column.reference = "?"
            table.columns.append(column)
        elif kind == "Constraint":
            ct = element.contype
            keys = tuple(k.sval for k in element.keys or ())
            if ct == enums.ConstrType.CONSTR_PRIMARY:
                primary = list(keys)
            elif ct == enums.ConstrType.CONSTR_UNIQUE:
                table.indexes.append(Index(element.conname, keys, loc(element.location), unique=True, constraint=True))
            elif ct == enums.ConstrType.CONSTR_FOREIGN:
                pk = element.pktable
                columns = tuple(k.sval for k in element.fk_attrs or ())
                table.foreign_keys.append(ForeignKey(columns, pk.relname, pk.schemaname, loc(element.location)))
    table.primary_key = tuple(primary)
    for name in primary:
        key = table.column(name)
        if key is not None:
            key.nullable = False
    return table


def _alter_table(stmt: Any, where: Location, migration: Migration, tables: dict[str, Table], loc: Any) -> None:
    name = stmt.relation.relname
    for cmd in stmt.cmds or ():
        sub = cmd.subtype
        if sub == enums.AlterTableType.AT_AddColumn:
            column = cmd.def_
            constraints = list(column.constraints or ())
            for c in constraints:
                if c.contype == enums.ConstrType.CONSTR_FOREIGN:
                    fk = ForeignKey((column.colname,), c.pktable.relname, c.pktable.schemaname, loc(c.location))
                    _add_fk(name, fk, migration, tables)
            not_null = any(
                c.contype in (enums.ConstrType.CONSTR_NOTNULL, enums.ConstrType.CONSTR_PRIMARY) for c in constraints
            )
            has_default = any(c.contype == enums.ConstrType.CONSTR_DEFAULT for c in constraints)
            migration.changes.append(Change("add_column", name, where, column=column.colname))
            if not_null and not has_default:
                migration.changes.append(Change("add_not_null_column", name, where, column=column.colname))
            if name in tables:
                tables[name].columns.append(
                    Column(column.colname, _type(column.typeName), loc(column.location), nullable=not not_null)
                )
        elif sub == enums.AlterTableType.AT_AddConstraint and cmd.def_.contype == enums.ConstrType.CONSTR_FOREIGN:
            c = cmd.def_
            columns = tuple(k.sval for k in c.fk_attrs or ())
            _add_fk(
                name, ForeignKey(columns, c.pktable.relname, c.pktable.schemaname, loc(c.location)), migration, tables
            )
        elif sub == enums.AlterTableType.AT_DropColumn:
            migration.changes.append(Change("drop_column", name, where, column=cmd.name))
        elif sub == enums.AlterTableType.AT_AlterColumnType:
            migration.changes.append(
                Change("alter_type", name, where, column=cmd.name, detail=f"to {_type(cmd.def_.typeName)}")
            )
        elif sub == enums.AlterTableType.AT_SetNotNull:
            migration.changes.append(Change("set_not_null", name, where, column=cmd.name))


def _add_fk(table: str, fk: ForeignKey, migration: Migration, tables: dict[str, Table]) -> None:
    if table in tables:
        tables[table].foreign_keys.append(fk)
    else:
        migration.foreign_keys.append((table, fk))
