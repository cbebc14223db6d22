"""The suite's order (``tests/conftest.py``): the tests ``tests/durations.json`` knows
as long run first, longest first; the others keep their order."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import DURATIONS, longest_first, read_durations


def test_the_long_tests_go_first_longest_first_and_the_rest_keep_their_order() -> None:
    items = [SimpleNamespace(nodeid=n) for n in ("a", "b", "slow", "c", "slower", "d")]
    ordered = longest_first(items, {"slow": 10.0, "slower": 30.0, "gone": 99.0})
    assert [i.nodeid for i in ordered] == ["slower", "slow", "a", "b", "c", "d"]
    assert [i.nodeid for i in longest_first(items, {})] == ["a", "b", "slow", "c", "slower", "d"]


def test_a_missing_or_broken_durations_file_is_collection_order(tmp_path: Path) -> None:
    assert read_durations(tmp_path / "none.json") == {}
    (tmp_path / "bad.json").write_text("[1, 2")
    assert read_durations(tmp_path / "bad.json") == {}
    (tmp_path / "list.json").write_text("[1, 2]")
    assert read_durations(tmp_path / "list.json") == {}


def test_the_shipped_file_names_tests_that_exist(request: pytest.FixtureRequest) -> None:
    known = read_durations()
    assert known, f"{DURATIONS} is read"
    assert json.loads(DURATIONS.read_text()) == known
    collected = {item.nodeid for item in request.session.items}
    if len(collected) < 1000:  # a part of the suite was asked for: nothing to compare with
        pytest.skip("only the whole suite collects every test")
    stale = [n for n in known if n not in collected]
    assert len(stale) <= len(known) // 4, f"refresh it (tools/durations.py): {stale[:5]}"
