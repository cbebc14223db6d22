"""The permission matrix exists three times by design — in code
(``hrms.contracts.permissions``), as data (auth's migration seeds it) and in the docs
— and the three must agree."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from hrms.contracts.permissions import MATRIX, OPERATOR_ONLY, ROLES, SERVICE_ONLY, permissions_of

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "src/hrms/services/auth/migrations"
#: The revisions that seed permissions: 0002 the first matrix, 0006 the workforce services',
#: 0008 the document service's, 0009 the contract service's.
SEEDING = (
    "0002_roles_sessions_preferences.py",
    "0006_workforce_permissions.py",
    "0008_document_permissions.py",
    "0009_contract_permissions.py",
    "0010_analytics_permissions.py",
)


def _load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"auth_{name[:4]}", MIGRATIONS / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seeding_migrations_hold_the_matrix_of_the_code() -> None:
    seeded: dict[str, object] = {}
    for name in SEEDING:
        matrix = _load(name)._MATRIX  # type: ignore[attr-defined]
        assert not set(matrix) & set(seeded), f"{name} seeds a permission again"
        seeded.update(matrix)
    assert seeded == MATRIX
    assert _load(SEEDING[0])._ROLES == ROLES  # type: ignore[attr-defined]


def test_the_documented_table_is_the_matrix() -> None:
    text = (ROOT / "docs/security.md").read_text()
    table = text.split("<!-- matrix:start -->")[1].split("<!-- matrix:end -->")[0]
    documented: dict[str, tuple[str, ...]] = {}
    for line in table.splitlines():
        match = re.match(r"\| `([a-z:]+)` \| .*? \|(.*)\|$", line)
        if match:
            marks = [c.strip() for c in match.group(2).split("|")]
            documented[match.group(1)] = tuple(r for r, m in zip(ROLES, marks, strict=True) if m)
    assert documented == {
        **{p: holders for p, (_d, holders) in MATRIX.items()},
        **dict.fromkeys(OPERATOR_ONLY, ()),
        **dict.fromkeys(SERVICE_ONLY, ()),
    }


def test_roles_nest_as_documented() -> None:
    admin, manager, employee = (set(permissions_of(frozenset({r}))) for r in ("admin", "manager", "employee"))
    assert employee < manager < admin
    assert "companies:create" not in admin, "creating companies is the operator's"
