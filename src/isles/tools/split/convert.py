"""The value conversions of ``isles split run`` (:mod:`isles.tools.split.run`): a
monolith value as the target column's type wants it (:func:`convert`, each column's
:func:`converter` chosen once; :class:`Bad` where it cannot be), and a value as the
checksums see it (:func:`norm`, :func:`checksum`), the same whether read from the
source (after conversion) or from either database (``isles split verify``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from isles.tools.split.plan import DATE_TYPES, INT_TYPES, NUM_TYPES


class Bad(Exception):
    """A value that does not convert to the target column's type."""


def to_id(v: Any) -> int:
    if isinstance(v, bool):
        raise Bad("a boolean, not an id")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v.strip())
    raise Bad("not an integer id")


def convert(value: Any, type_: str, python_type: type | None = None) -> Any:
    """``value`` (from SQLite) as the target type wants it; :class:`Bad` if it cannot be."""
    if value is None:
        return None
    return converter(type_, python_type)(value)


@functools.lru_cache(maxsize=256)
def converter(type_: str, python_type: type | None = None) -> Callable[[Any], Any]:
    """The conversion of a non-NULL value to ``type_`` (see :func:`convert`), chosen once
    per column: the run converts every value of a column with the same function."""
    if type_ in INT_TYPES:

        def to_int(value: Any) -> int:
            if value.__class__ is int:
                return value
            try:
                return to_id(value)
            except Bad:
                raise Bad(f"not an integer ({type_})") from None

        return to_int
    if type_ == "Money":  # isles.Money: exact, two places
        number = converter("Numeric")

        def to_money(value: Any) -> Decimal:
            amount: Decimal = number(value)
            cents = amount.quantize(_CENT)
            # a REAL's binary noise (a float sum: 503.51000000000005) is the cent it meant;
            # a third decimal place is a value the column cannot hold, never rounded away
            if abs(amount - cents) > _NOISE:
                raise Bad("more than two decimal places (Money)")
            return cents

        return to_money
    if type_ == "StringList":
        return _to_strings
    if type_ == "LowerCase":  # isles.LowerCase: as the column's type stores it
        return _to_lower
    if type_ in NUM_TYPES:

        def to_number(value: Any) -> Decimal:
            if isinstance(value, bool):
                raise Bad(f"not a number ({type_})")
            try:
                return Decimal(str(value).strip())
            except InvalidOperation:
                raise Bad(f"not a number ({type_})") from None

        return to_number
    if type_ == "Boolean":
        return _to_bool
    if type_ == "Date":
        return _to_date
    if type_ in DATE_TYPES:  # DateTime, UTCDateTime, Time
        return _to_stamp
    if type_ == "Encrypted" and python_type is not None and python_type is not str:
        # as the plain column of its Python type converts (a REAL's Decimal from its
        # text, not from the float's binary expansion; 1.5 is not an int)
        for kinds, plain in (
            ((bool,), "Boolean"),
            ((int,), "Integer"),
            ((Decimal,), "Numeric"),
            ((datetime,), "DateTime"),
            ((date,), "Date"),
        ):
            if issubclass(python_type, kinds):
                return converter(plain)
        kind = python_type

        def to_python(value: Any) -> Any:
            try:
                return kind(value)
            except (TypeError, ValueError, ArithmeticError):
                raise Bad(f"not a {kind.__name__}") from None

        return to_python
    return _to_str


_CENT = Decimal("0.01")
_NOISE = Decimal("0.000001")


def _to_strings(value: Any) -> list[str]:
    """A list of strings: a list (a plan's constant), or a monolith's JSON array text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Bad("not a list of strings (a JSON array)") from None
    if not isinstance(value, list | tuple):
        raise Bad("not a list of strings (a JSON array)")
    return [str(v) for v in value]


def _to_bool(value: Any) -> bool:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y"):
        return True
    if text in ("0", "false", "f", "no", "n"):
        return False
    raise Bad("not true or false")


def _to_date(value: Any) -> date:
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise Bad("not a date") from None


def _to_stamp(value: Any) -> datetime:
    try:
        stamp = datetime.fromisoformat(str(value).strip().replace(" ", "T"))
    except ValueError:
        raise Bad("not a date and time") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _to_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _to_lower(value: Any) -> str:
    return _to_str(value).strip().lower()


def norm(value: Any) -> str:
    """A value as the checksums see it: the same whether read from the source (after
    conversion) or from either database."""
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        d = Decimal(str(value)).normalize()
        return "0" if d.is_zero() else format(d, "f")
    if isinstance(value, datetime):
        stamp = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return stamp.isoformat()
    if isinstance(value, date | uuid.UUID):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return str(value)


def _number(value: Any) -> str:
    d = Decimal(str(value)).normalize()
    return "0" if d.is_zero() else format(d, "f")


def _stamp(value: datetime) -> str:
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()


#: :func:`norm` by the value's exact class (the common ones; others go through norm)
_NORMS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _v: "\x00",
    bool: lambda v: "true" if v else "false",
    int: _number,
    float: _number,
    Decimal: _number,
    datetime: _stamp,
    date: date.isoformat,
    uuid.UUID: str,
}


def checksum(values: Sequence[Any]) -> str:
    """sha256 of the values as :func:`norm` writes them."""
    norms = _NORMS
    return hashlib.sha256(
        "\x1f".join([v if v.__class__ is str else norms.get(v.__class__, norm)(v) for v in values]).encode()
    ).hexdigest()
