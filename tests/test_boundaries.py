"""The boundaries CI checks (``lint-imports`` in ``make lint``) cover every service,
and the ``isles`` facade gives a service author every name it lists, lazily."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import isles

ROOT = Path(__file__).resolve().parents[1]


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["contracts"])


def test_every_hr_service_is_in_the_independence_contract() -> None:
    services = sorted(f"hrms.services.{p.parent.name}" for p in (ROOT / "src/hrms/services").glob("*/__init__.py"))
    assert len(services) >= 5
    (independence,) = [c for c in contracts() if c["type"] == "independence" and "hrms.services" in str(c["modules"])]
    missing = sorted(set(services) - set(independence["modules"]))
    assert not missing, f'add {missing} to the modules of "{independence["name"]}" in pyproject.toml'
    assert sorted(independence["modules"]) == services, "the contract names a service folder that is gone"


def test_the_hr_system_may_import_only_the_facade() -> None:
    (facade,) = [c for c in contracts() if c["name"] == "The HR system uses the platform only through the isles facade"]
    assert facade["source_modules"] == ["hrms"]
    assert set(facade["forbidden_modules"]) == {"isles.*", "isles.**"}  # type: ignore[arg-type]


def test_every_name_the_facade_lists_resolves() -> None:
    for name in isles.__all__:
        assert getattr(isles, name) is not None, name
    assert set(isles.__all__) <= set(dir(isles))
    with pytest.raises(AttributeError, match="no attribute 'Nonsense'"):
        isles.Nonsense  # noqa: B018


def test_importing_the_facade_loads_nothing_heavy() -> None:
    probe = "import sys, isles; print(sorted(m for m in ('fastapi', 'sqlalchemy', 'nats') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_facades_all_is_what_it_maps() -> None:
    assert sorted(isles.__all__) == sorted(isles._EXPORTS)
    assert len(set(isles.__all__)) == len(isles.__all__)


def test_the_facade_names_every_column_type_a_revision_writes() -> None:
    from isles.storage.schema import COLUMN_TYPES

    for column_type in COLUMN_TYPES:
        assert getattr(isles, column_type.__name__) is column_type


def test_the_platform_has_no_import_cycle_and_keeps_its_layers() -> None:
    """tools/shape.py counts every import (also under TYPE_CHECKING and inside
    functions); lint-imports (in make lint) holds the layers contract."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/shape.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout
    assert "import cycles: 0" in result.stdout
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    packages = sorted(
        f"isles.{p.parent.name}" for p in (ROOT / "src/isles").glob("*/__init__.py") if p.parent.name != "__pycache__"
    )
    named = sorted(m.strip() for layer in layers["layers"] for m in str(layer).split("|"))  # type: ignore[attr-defined]
    assert named == packages, "every subpackage of the platform is in a layer"
