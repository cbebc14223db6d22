"""``isles-lint.toml`` (or ``[tool.isles-lint]`` in ``pyproject.toml``): which rules
run, at which severity, and — for projects not on Isles — the service map.

    select = ["ISL"]                 # code prefixes to run (default: all)
    ignore = ["ISL305"]              # codes or prefixes to skip
    [severity]
    ISL303 = "error"                 # error, warning or info
    [services]                       # which service owns which tables
    users = ["users", "user_preferences"]
    [paths]                          # which service a file belongs to (glob -> service)
    "packages/user/**" = "users"
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isles.lint.model import SEVERITIES, Finding, LintInputError, Severity
from isles.lint.rules import RULES

NAMES = ("isles-lint.toml", ".isles-lint.toml")


@dataclass
class LintConfig:
    select: tuple[str, ...] = ("ISL",)
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    services: dict[str, list[str]] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def enabled(self, code: str) -> bool:
        return any(code.startswith(p) for p in self.select) and not any(code.startswith(p) for p in self.ignore)

    def apply(self, finding: Finding) -> Finding | None:
        if not self.enabled(finding.code):
            return None
        finding.severity = self.severity.get(finding.code, finding.severity)
        return finding

    def service_of(self, path: Path) -> str | None:
        text = path.as_posix()
        for pattern, service in self.paths.items():
            if fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(text, f"*/{pattern}"):
                return service
        return None

    def owners(self) -> dict[str, str]:
        return {table: service for service, tables in self.services.items() for table in tables}


def find(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        for name in NAMES:
            if (folder / name).is_file():
                return folder / name
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "isles-lint" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return pyproject
    return None


def load(path: Path | None) -> LintConfig:
    if path is None:
        return LintConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LintInputError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LintInputError(f"{path}: not valid TOML: {exc}") from exc
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("isles-lint", {})
    return _parse(data, str(path))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LintInputError(f"{where}: must be a list of strings")
    return tuple(value)


def _parse(data: dict[str, Any], source: str) -> LintConfig:
    known = {"select", "ignore", "severity", "services", "paths"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LintInputError(f"{source}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    config = LintConfig(source=source)
    if "select" in data:
        config.select = tuple(s.upper() for s in _strings(data["select"], f"{source}: select"))
    if "ignore" in data:
        config.ignore = tuple(s.upper() for s in _strings(data["ignore"], f"{source}: ignore"))
    for code, level in dict(data.get("severity", {})).items():
        if code.upper() not in RULES:
            raise LintInputError(f"{source}: severity: unknown rule {code}")
        if level not in SEVERITIES:
            raise LintInputError(f"{source}: severity.{code}: {level!r} is not one of {', '.join(SEVERITIES)}")
        config.severity[code.upper()] = level
    for service, tables in dict(data.get("services", {})).items():
        config.services[service] = list(_strings(tables, f"{source}: services.{service}"))
    for pattern, service in dict(data.get("paths", {})).items():
        if not isinstance(service, str):
            raise LintInputError(f"{source}: paths.{pattern!r} must name a service")
        config.paths[pattern] = service
    return config
