"""Findings as text, JSON, SARIF 2.1.0, GitHub workflow annotations, or the seed's
"Database Lead Review" in Markdown (for a pull-request comment)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from isles.lint.model import Finding
from isles.lint.rules import RULES

FORMATS = ("text", "json", "sarif", "github", "markdown")
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render(findings: Sequence[Finding], fmt: str, *, files: int) -> str:
    return {"text": text, "json": as_json, "sarif": sarif, "github": github, "markdown": markdown}[fmt](findings, files)


def _summary(findings: Sequence[Finding], files: int) -> str:
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in ("error", "warning", "info") if counts[s]]
    return f"{files} file{'s' if files != 1 else ''} checked: " + (", ".join(parts) if parts else "no findings")


def text(findings: Sequence[Finding], files: int) -> str:
    lines = [f"{f.loc}: {f.code} [{f.severity}] {f.message} (hint: {f.hint})" for f in findings]
    lines.append(_summary(findings, files))
    return "\n".join(lines) + "\n"


def as_json(findings: Sequence[Finding], files: int) -> str:
    body = {
        "files": files,
        "findings": [
            {
                "code": f.code,
                "rule": f.rule,
                "severity": f.severity,
                "message": f.message,
                "hint": f.hint,
                "file": f.loc.file,
                "line": f.loc.line,
                "column": f.loc.col,
                "doc": RULES[f.code].doc,
            }
            for f in findings
        ],
    }
    return json.dumps(body, indent=2) + "\n"


def sarif(findings: Sequence[Finding], files: int) -> str:
    codes = sorted(RULES)
    rules: list[dict[str, Any]] = [
        {
            "id": code,
            "name": RULES[code].name,
            "shortDescription": {"text": RULES[code].summary},
            # The rule's page ships in the repository, not at a URL: named in the help.
            "help": {"text": f"{RULES[code].hint} (see {RULES[code].doc})"},
            "defaultConfiguration": {"level": _SARIF_LEVEL[RULES[code].severity]},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": codes.index(f.code),
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message} (hint: {f.hint})"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.loc.file},
                        "region": {"startLine": f.loc.line, "startColumn": f.loc.col},
                    }
                }
            ],
        }
        for f in findings
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "isles lint", "rules": rules}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github(findings: Sequence[Finding], files: int) -> str:
    kind = {"error": "error", "warning": "warning", "info": "notice"}
    lines = [
        f"::{kind[f.severity]} file={_escape(f.loc.file, prop=True)},line={f.loc.line},col={f.loc.col},"
        f"title={_escape(f.code + ' ' + f.rule, prop=True)}::{_escape(f.message + ' (hint: ' + f.hint + ')')}"
        for f in findings
    ]
    lines.append(_summary(findings, files))
    return "\n".join(lines) + "\n"


def markdown(findings: Sequence[Finding], files: int) -> str:
    errors = [f for f in findings if f.severity == "error"]
    others = [f for f in findings if f.severity != "error"]
    approved = not errors
    tick = {True: "x", False: " "}
    lines = [
        "## Database Lead Review",
        "",
        "### Approval Status",
        f"- [{tick[approved]}] Approved",
        f"- [{tick[not approved]}] Requires changes",
        "- [ ] Rejected",
        "",
        "### Required Changes",
    ]
    lines += [f"{i}. `{f.loc}` **{f.code}** {f.message} — {f.hint}" for i, f in enumerate(errors, 1)] or ["None."]
    lines += ["", "### Recommendations"]
    lines += [f"- `{f.loc}` **{f.code}** {f.message} — {f.hint}" for f in others] or ["None."]
    checklist = [
        ("Naming follows conventions", ("ISL201", "ISL202", "ISL203", "ISL204")),
        ("Proper indexes defined", ("ISL302", "ISL304")),
        ("No cross-database relationships", ("ISL100",)),
        ("Migration is reversible", ("ISL401",)),
        ("Breaking changes documented", ("ISL402",)),
        ("Performance considered", ("ISL403", "ISL305")),
    ]
    codes = {f.code for f in findings}
    lines += ["", "### Review Checklist"]
    lines += [f"- [{tick[not codes & set(group)]}] {label}" for label, group in checklist]
    lines += ["", f"_{_summary(findings, files)} by `isles lint`._", ""]
    return "\n".join(lines)
