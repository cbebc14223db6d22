"""The run's conversion of a monolith's value to a target column's type
(:func:`isles.tools.split.run.convert`), for the encrypted columns: a newcomer's trial
found a REAL salary stored with its float's binary expansion, and text in it crashing
the run (``decimal.InvalidOperation``) instead of being a reject."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from isles.tools.split.run import Bad, convert


def test_an_encrypted_decimal_takes_the_float_as_written() -> None:
    assert convert(78778.94, "Encrypted", Decimal) == Decimal("78778.94")
    assert convert(0.1, "Encrypted", Decimal) == Decimal("0.1")
    assert convert(" 12.50 ", "Encrypted", Decimal) == Decimal("12.50")
    assert convert(7, "Encrypted", Decimal) == Decimal(7)


@pytest.mark.parametrize(
    ("value", "kind"),
    [("n/a", Decimal), ("", Decimal), (1.5, int), ("seven", int), ("31/12/2023", date), ("soon", datetime)],
)
def test_a_value_an_encrypted_column_cannot_take_is_bad_not_a_crash(value: object, kind: type) -> None:
    with pytest.raises(Bad):
        convert(value, "Encrypted", kind)


def test_an_encrypted_column_converts_as_its_python_type_s_plain_column_does() -> None:
    assert convert("2023-12-31", "Encrypted", date) == date(2023, 12, 31)
    assert convert("2023-12-31 10:00:00", "Encrypted", datetime) == datetime(2023, 12, 31, 10, tzinfo=UTC)
    assert convert("42", "Encrypted", int) == 42
    assert convert(1, "Encrypted", bool) is True
    assert convert(12, "Encrypted", str) == "12"


def test_money_takes_a_real_s_sum_to_the_cent_and_refuses_what_has_more_places() -> None:
    """A trial splitting a shop: ``orders.total`` REAL 503.51000000000005 (a float sum)
    crashed the run in ``Money``'s bind (a traceback, no rejects file); 'n/a' crashed it
    too; and a whole 197.0 was compared as the text '197.0' by verify."""
    assert convert(503.51000000000005, "Money") == Decimal("503.51")
    assert convert(197.0, "Money") == Decimal("197.00")
    assert convert("12.5", "Money") == Decimal("12.50")
    assert convert(3, "Money") == Decimal("3.00")
    for bad in ("n/a", 12.345, "", True):
        with pytest.raises(Bad):
            convert(bad, "Money")


def test_a_list_column_takes_a_list_not_its_characters() -> None:
    """The same trial: a plan's constant ``roles = ["customer"]`` for a StringList column
    was stored as ``["[", "'", "c", ...]`` (the list made text, then split)."""
    assert convert(["customer"], "StringList") == ["customer"]
    assert convert(" Ada@Example.COM", "LowerCase") == "ada@example.com"  # isles.LowerCase: as it stores it
    assert convert('["a", "b"]', "StringList") == ["a", "b"]  # a monolith's JSON text
    assert convert([1, "x"], "StringList") == ["1", "x"]
    for bad in ("customer", '{"a": 1}', 7):
        with pytest.raises(Bad):
            convert(bad, "StringList")


def test_a_partial_unique_index_is_not_a_key_the_run_holds_rows_to() -> None:
    """The same trial: ``user_addresses``' unique index on ``user_id`` ``WHERE
    is_default`` was taken for a key on ``user_id``, and every address but a user's
    first was refused as a duplicate. The database checks a partial index itself."""
    from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, UniqueConstraint, true

    from isles.tools.split.mapper import unique_keys

    table = Table(
        "user_addresses",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("user_id", Integer),
        Column("line", String),
        Column("is_default", Boolean),
        UniqueConstraint("user_id", "line", name="uq_line"),
    )
    Index("uq_default", table.c.user_id, unique=True, sqlite_where=table.c.is_default == true())
    Index("uq_default_pg", table.c.user_id, unique=True, postgresql_where=table.c.is_default == true())
    Index("uq_line_lower", table.c.line, unique=True)
    filled = ("user_id", "line", "is_default")  # the plan fills is_default: each row its own
    assert unique_keys(table, filled) == [("uq_line", ("user_id", "line")), ("uq_line_lower", ("line",))]
    # a condition on a column the run leaves to its default holds for every loaded row
    # (the HR system's ``WHERE deleted_at IS NULL``): checked as a full key
    assert {n for n, _ in unique_keys(table, ("user_id", "line"))} == {
        "uq_line",
        "uq_line_lower",
        "uq_default",
        "uq_default_pg",
    }
