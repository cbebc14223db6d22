"""Prisma schema files (``schema.prisma``, seeds 002 and 004): models with their
fields, ``@id``, ``@default``, ``@map``, ``@db.*``, ``@relation``, ``@unique``, and the
block attributes ``@@map``, ``@@id``, ``@@index``, ``@@unique``; enums. A model is a
table named by its ``@@map`` (or by the model, which the naming rules flag)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from isles.lint.model import Column, ForeignKey, Index, LintInputError, Location, Table

SCALARS = {
    "String": "text",
    "Int": "integer",
    "BigInt": "bigint",
    "Float": "double",
    "Decimal": "numeric",
    "Boolean": "boolean",
    "DateTime": "timestamp",
    "Json": "jsonb",
    "Bytes": "bytea",
}
_BLOCK = re.compile(r"^\s*(model|enum|view|type|datasource|generator)\s+(\w+)\s*\{\s*$")
_FIELD = re.compile(r"^\s*(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$")
_NAME = re.compile(r"""(?:name|map)\s*:\s*"([^"]*)\"""")


@dataclass
class _Attribute:
    name: str  # "id", "db.Uuid", "@map" (block attributes keep one @)
    args: str
    col: int


def _attributes(text: str, offset: int) -> list[_Attribute]:
    """``@a(...) @b @@c([...], name: "x")`` with balanced parentheses."""
    found: list[_Attribute] = []
    i = 0
    while i < len(text):
        if text[i] == "@":
            start = i
            i += 1
            block = text[i : i + 1] == "@"
            if block:
                i += 1
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] in "._"):
                j += 1
            name = ("@" if block else "") + text[i:j]
            args = ""
            if j < len(text) and text[j] == "(":
                depth, k = 0, j
                while k < len(text):
                    if text[k] == "(":
                        depth += 1
                    elif text[k] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    elif text[k] == '"':
                        k = text.find('"', k + 1)
                        if k < 0:
                            k = len(text)
                    k += 1
                args = text[j + 1 : k]
                j = k + 1
            found.append(_Attribute(name, args, offset + start + 1))
            i = j
        elif text[i] == "/" and text[i : i + 2] == "//":
            break
        else:
            i += 1
    return found


def _list(args: str) -> list[str]:
    """The first ``[a, b(sort: Desc)]`` list of an attribute's arguments."""
    match = re.search(r"\[([^\]]*)\]", args)
    if match is None:
        return []
    return [re.sub(r"\(.*\)", "", part).strip() for part in match.group(1).split(",") if part.strip()]


def _string(args: str) -> str | None:
    match = re.match(r'\s*"([^"]*)"', args)
    return match.group(1) if match else None


def read_prisma(path: Path, service: str | None, *, display: str | None = None) -> list[Table]:
    file = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LintInputError(f"{file}: cannot read: {exc}") from exc
    return parse(text, file, service)


@dataclass
class _Model:
    name: str
    loc: Location
    lines: list[tuple[int, str]]


def parse(text: str, file: str, service: str | None) -> list[Table]:
    models: list[_Model] = []
    enums: set[str] = set()
    current: _Model | None = None
    kind = ""
    opened = (0, "")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("//", 1)[0].strip() if "//" in line and '"' not in line else line.strip()
        if current is None and not kind:
            match = _BLOCK.match(line)
            if match:
                kind = match.group(1)
                opened = (number, f"{kind} {match.group(2)}")
                if kind == "model":
                    current = _Model(match.group(2), Location(file, number, line.index(match.group(2)) + 1), [])
                elif kind == "enum":
                    enums.add(match.group(2))
                continue
            if stripped and not stripped.startswith("//"):
                raise LintInputError(f"{file}:{number}:1: expected a model, enum, datasource or generator block")
            continue
        if stripped == "}":
            if current is not None:
                models.append(current)
            current, kind = None, ""
            continue
        if current is not None:
            current.lines.append((number, line))
    if current is not None or kind:
        raise LintInputError(f"{file}:{opened[0]}:1: {opened[1]} is not closed with }}")
    names = {m.name for m in models}
    return [_table(m, file, service, names, enums) for m in models]


def _table(model: _Model, file: str, service: str | None, models: set[str], enums: set[str]) -> Table:
    table = Table(name=model.name, loc=model.loc, service=service, model=model.name, mapped=False)
    columns_by_field: dict[str, str] = {}
    relations: list[tuple[str, str, list[_Attribute], Location]] = []
    block: list[tuple[_Attribute, int]] = []
    for number, line in model.lines:
        body = line.strip()
        if not body or body.startswith("//"):
            continue
        indent = len(line) - len(line.lstrip())
        if body.startswith("@@"):
            block.extend((a, number) for a in _attributes(body, indent))
            continue
        match = _FIELD.match(line)
        if match is None:
            raise LintInputError(f"{file}:{number}:{indent + 1}: cannot read this field")
        name, type_name, many, optional, rest = match.groups()
        attributes = _attributes(rest, line.index(rest) if rest else 0)
        loc = Location(file, number, indent + 1)
        if type_name not in SCALARS and type_name not in enums:
            relations.append((name, type_name, attributes, loc))  # a relation to a model
            continue
        column_name = name
        column_type = SCALARS.get(type_name, "enum")
        nullable = bool(optional)
        default = None
        for a in attributes:
            if a.name == "map":
                column_name = _string(a.args) or name
            elif a.name == "db.Uuid":
                column_type = "uuid"
            elif a.name.startswith("db.") and column_type == "text":
                column_type = a.name[3:].lower()
            elif a.name == "default":
                default = a.args
            elif a.name == "updatedAt":
                default = "updatedAt"
        if many:
            column_type += "[]"
        column = Column(column_name, column_type, loc, nullable=nullable, default=default, field=name)
        table.columns.append(column)
        columns_by_field[name] = column_name
        for a in attributes:
            if a.name == "id":
                table.primary_key = (column_name,)
                column.nullable = False
            elif a.name == "unique":
                table.indexes.append(Index(None, (column_name,), loc, unique=True, constraint=True))
    for a, number in block:
        loc = Location(file, number, a.col)
        fields = _list(a.args)
        columns = tuple(columns_by_field.get(f, f) for f in fields)
        if a.name == "@map":
            table.name = _string(a.args) or table.name
            table.mapped = True
        elif a.name == "@id":
            table.primary_key = columns
        elif a.name in ("@index", "@unique"):
            named = _NAME.search(a.args)
            table.indexes.append(Index(named.group(1) if named else None, columns, loc, unique=a.name == "@unique"))
    for _name, target, attributes, loc in relations:
        relation = next((a for a in attributes if a.name == "relation"), None)
        fields = [columns_by_field.get(f, f) for f in _list(relation.args)] if relation else []
        if target in models and not fields:
            continue  # the other side of a relation declared on the model that holds the key
        table.foreign_keys.append(ForeignKey(tuple(fields), target, None, loc, target_model=target))
    return table
