"""Inline suppressions: ``isles: ignore[CODE, CODE] reason`` in a comment (``--`` in
SQL, ``//`` in Prisma, ``#`` in Python). On a line of its own it covers the next
line; at the end of a line, that line. A suppression needs a reason."""

from __future__ import annotations

import re

from isles.lint.model import Finding, Location

PATTERN = re.compile(r"isles:\s*ignore\[([A-Za-z0-9_, ]+)\]\s*(.*)$")
_COMMENT = {"sql": "--", "prisma": "//", "python": "#"}


def scan(file: str, text: str, kind: str) -> tuple[dict[tuple[str, int], dict[str, str]], list[Finding]]:
    """The suppressions in ``text``, and a finding for each without a reason."""
    marker = _COMMENT[kind]
    found: dict[tuple[str, int], dict[str, str]] = {}
    problems: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        at = line.find(marker)
        if at < 0:
            continue
        match = PATTERN.search(line[at + len(marker) :])
        if match is None:
            continue
        codes = [c.strip().upper() for c in match.group(1).split(",") if c.strip()]
        reason = match.group(2).strip().rstrip("*/").strip()
        target = number + 1 if not line[:at].strip() else number
        if not reason:
            problems.append(
                Finding(
                    code="ISL001",
                    severity="error",
                    message=f"suppression of {', '.join(codes)} without a reason",
                    hint="say why after the brackets: isles: ignore[CODE] <reason>",
                    loc=Location(file, number, at + 1),
                    rule="suppression-reason",
                )
            )
            continue
        entry = found.setdefault((file, target), {})
        for code in codes:
            entry[code] = reason
    return found, problems
