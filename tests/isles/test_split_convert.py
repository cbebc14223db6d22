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
