"""The platform's one backoff rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from isles.core.backoff import Backoff


def test_doubles_from_its_base_up_to_its_ceiling_without_jitter() -> None:
    b = Backoff(0.2, 5.0, jitter=False)
    assert [b.delay(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert b.delay(0) == 0.2, "an attempt before the first counts as the first"
    assert b.delay(10_000) == 5.0, "no overflow however long it failed"


@given(
    base=st.floats(0.001, 10),
    ceiling=st.floats(0.001, 100),
    attempt=st.integers(1, 200),
)
def test_with_jitter_half_is_fixed_and_half_random(base: float, ceiling: float, attempt: int) -> None:
    top = Backoff(base, ceiling, jitter=False).delay(attempt)
    waited = Backoff(base, ceiling).delay(attempt)
    assert top / 2 <= waited <= top
    assert top <= ceiling


def test_no_module_of_the_platform_writes_its_own_backoff() -> None:
    """Doubling delays are written once, in isles.core.backoff."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "src/isles"
    doubling = re.compile(r"\*\s*2(\.0)?\s*\*\*|\b2\s*\*\*|delay\s*\*\s*2")
    found = [
        f"{p.relative_to(root)}:{n}"
        for p in sorted(root.rglob("*.py"))
        if p.name != "backoff.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if doubling.search(line)
    ]
    assert found == []
