"""Isles services as lint input: each service's tables from its SQLAlchemy metadata
(with the references it declares), and its Alembic migrations read from their source
(never run): ``op.*`` and ``batch_op.*`` calls, and SQL in ``op.execute("...")``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import Index as SAIndex
from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.dialects import postgresql

from isles.core import references
from isles.lint import sql, suppress
from isles.lint.model import Change, Column, ForeignKey, Index, Location, Migration, Project, Table
from isles.messaging.archive import PLATFORM_TABLE
from isles.service.declaration import Service
from isles.storage.eventstore import EVENT_STORE
from isles.storage.history import HISTORY_INFO_KEY
from isles.storage.schema import KERNEL_TABLES

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _type_name(column: object) -> str:
    try:
        compiled = str(column.type.compile(dialect=_PG)).lower()  # type: ignore[attr-defined]
    except Exception:
        compiled = type(column.type).__name__.lower()  # type: ignore[attr-defined]
    name = re.sub(r"\(.*?\)", "", compiled).strip()
    return "timestamp" if name.startswith("timestamp") else name.split(" ")[0]


def _locate(package: Path, root: Path) -> dict[str, tuple[str, int, dict[str, int]]]:
    """table -> (file, line of __tablename__, column -> line) from the package's source."""
    found: dict[str, tuple[str, int, dict[str, int]]] = {}
    for path in sorted(package.glob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        current: str | None = None
        for number, line in enumerate(lines, start=1):
            match = re.match(r'\s+__tablename__\s*=\s*"([^"]+)"', line)
            if match:
                current = match.group(1)
                found[current] = (_display(path, root), number, {})
                continue
            if re.match(r"^class\s", line):
                current = None
            if current is not None:
                column = re.match(r"\s+(\w+)\s*:\s*Mapped\[", line)
                if column:
                    found[current][2].setdefault(column.group(1), number)
    return found


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def read_service(service: Service, project: Project, root: Path) -> None:
    package = service.migrations.parent if service.migrations is not None else None
    places = _locate(package, root) if package is not None else {}
    for path in sorted(package.glob("*.py")) if package is not None else ():
        found, problems = suppress.scan(_display(path, root), path.read_text(encoding="utf-8"), "python")
        project.suppressions.update(found)
        project.extra.extend(problems)
        project.files += 1
    for name, sa_table in service.metadata.tables.items():
        if name in KERNEL_TABLES or name == EVENT_STORE:  # the platform's tables, reviewed here
            continue
        project.owners[name] = service.name
        if sa_table.info.get(HISTORY_INFO_KEY) or sa_table.info.get(PLATFORM_TABLE):  # the platform's design
            continue
        file, line, lines = places.get(name, (f"<{service.name}>", 1, {}))
        table = Table(name=name, loc=Location(file, line), service=service.name)
        for column in sa_table.columns:
            where = Location(file, lines.get(column.key, lines.get(column.name, line)))
            table.columns.append(
                Column(
                    column.name,
                    _type_name(column),
                    where,
                    nullable=bool(column.nullable),
                    default="default" if column.server_default is not None or column.default is not None else None,
                    reference=column.info.get(references.INFO_KEY),
                )
            )
            for fk in column.foreign_keys:
                target = fk.target_fullname.rsplit(".", 1)[0]
                table.foreign_keys.append(ForeignKey((column.name,), target, None, where))
        table.primary_key = tuple(c.name for c in sa_table.primary_key.columns)
        for constraint in sa_table.constraints:
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint) and constraint.columns:
                cols = tuple(c.name for c in constraint.columns)
                table.indexes.append(Index(str(constraint.name), cols, table.loc, unique=True, constraint=True))
        for index in sa_table.indexes:
            if isinstance(index, SAIndex):
                cols = tuple(c.name for c in index.columns)
                at = Location(file, lines.get(cols[0], line) if cols else line)
                table.indexes.append(Index(str(index.name), cols, at, unique=bool(index.unique)))
        project.tables.append(table)
    if service.migrations is not None:
        for path in sorted(service.migrations.glob("*.py")):
            read_migration(path, service.name, project, root)


def _const(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def read_migration(path: Path, service: str | None, project: Project, root: Path) -> None:
    file = _display(path, root)
    text = path.read_text(encoding="utf-8")
    found, problems = suppress.scan(file, text, "python")
    project.suppressions.update(found)
    project.files += 1
    tree = ast.parse(text, filename=file)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    migration = Migration(name=path.name, loc=Location(file), service=service)
    down = functions.get("downgrade")
    if down is None:
        migration.downgrade = "missing"
    else:
        migration.downgrade_loc = Location(file, down.lineno, down.col_offset + 1)
        body = [s for s in down.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        migration.downgrade = "empty" if all(isinstance(s, ast.Pass) for s in body) else "present"
    up = functions.get("upgrade")
    if up is not None:
        _walk(up, migration, file, {})
    project.migrations.append(migration)
    project.extra.extend(problems)


def _walk(node: ast.AST, migration: Migration, file: str, batches: dict[str, str]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.With):
            for item in child.items:
                call = item.context_expr
                is_batch = (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "batch_alter_table"
                    and isinstance(item.optional_vars, ast.Name)
                )
                if is_batch:
                    assert isinstance(call, ast.Call)
                    assert isinstance(item.optional_vars, ast.Name)
                    table = _const(call.args[0] if call.args else _keyword(call, "table_name"))
                    if table:
                        batches = {**batches, item.optional_vars.id: table}
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
            _call(child, migration, file, batches)
        _walk(child, migration, file, batches)


def _call(call: ast.Call, migration: Migration, file: str, batches: dict[str, str]) -> None:
    func = call.func
    assert isinstance(func, ast.Attribute)
    owner = func.value.id if isinstance(func.value, ast.Name) else ""
    where = Location(file, call.lineno, call.col_offset + 1)
    args = list(call.args)
    if owner in batches:  # batch_op.<op>(...) on the batch's table
        table: str | None = batches[owner]
    elif owner == "op":
        first = args.pop(0) if args and func.attr not in ("create_index", "execute") else None
        table = _const(first) if first is not None else None
    else:
        return
    op = func.attr
    if op == "execute" and args:
        statement = _const(args[0])
        if statement:
            _tables, parsed = sql.parse(statement, file, migration.service)
            for change in parsed.changes:
                change.loc = where
                migration.changes.append(change)
        return
    if op == "create_index":
        target = table if owner in batches else _const(args[1] if len(args) > 1 else _keyword(call, "table_name"))
        name = _const(args[0]) if args else None
        if target:
            concurrently = _is_true(_keyword(call, "postgresql_concurrently"))
            migration.changes.append(
                Change("create_index", target, where, concurrently=concurrently, detail=name or "")
            )
        return
    if table is None:
        return
    column = _const(args[0]) if args else _const(_keyword(call, "column_name"))
    if op == "create_table":
        migration.changes.append(Change("create_table", table, where))
    elif op == "drop_table":
        migration.changes.append(Change("drop_table", table, where))
    elif op == "rename_table":
        migration.changes.append(Change("rename_table", table, where, detail=f"to {column}"))
    elif op == "drop_column":
        migration.changes.append(Change("drop_column", table, where, column=column))
    elif op == "add_column" and args and isinstance(args[0], ast.Call):
        col = args[0]
        name = _const(col.args[0]) if col.args else None
        migration.changes.append(Change("add_column", table, where, column=name))
        nullable = _keyword(col, "nullable")
        required = isinstance(nullable, ast.Constant) and nullable.value is False
        defaulted = _keyword(col, "server_default") is not None
        if required and not defaulted:
            migration.changes.append(Change("add_not_null_column", table, where, column=name))
    elif op == "alter_column":
        if _keyword(call, "new_column_name") is not None:
            renamed = _const(_keyword(call, "new_column_name"))
            migration.changes.append(Change("rename_column", table, where, column=column, detail=f"to {renamed}"))
        if _keyword(call, "type_") is not None:
            migration.changes.append(Change("alter_type", table, where, column=column, detail="(type_)"))
        nullable = _keyword(call, "nullable")
        if isinstance(nullable, ast.Constant) and nullable.value is False:
            migration.changes.append(Change("set_not_null", table, where, column=column))
