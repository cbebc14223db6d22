"""Logs show what went wrong without writing out what a frame held."""

from __future__ import annotations

import json

import pytest
import structlog

from isles.core.logging import configure


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_an_error_is_logged_with_its_traceback_but_not_its_local_variables(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> None:
        password = "correct horse battery staple"  # a local a rich traceback would print
        raise ValueError(f"bad input of length {len(password)}")

    configure("info", fmt)
    try:
        try:
            fail()
        except ValueError as exc:
            structlog.get_logger("t").error("boom", exc_info=exc)
    finally:
        configure("critical")
    err = capsys.readouterr().err
    assert "ValueError: bad input of length 28" in err
    assert "in fail" in err, "the traceback names the frame"
    assert "correct horse" not in err
    if fmt == "json":
        assert json.loads(err.strip().splitlines()[-1])["event"] == "boom"
