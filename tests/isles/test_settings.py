"""Settings: grouped by the part they tune, each with one name (the environment
variable ``ISLES_RELAY_BATCH_SIZE`` is ``settings.relay.batch_size``), all read in
one module, all documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from isles.core.settings import GROUPS, IslesSettings, PoolSettings, ServiceEnvironment

ROOT = Path(__file__).resolve().parents[2]


def _names() -> list[tuple[str, str | None, str, Any]]:
    """(environment variable, group, field, field info) of every setting."""
    found: list[tuple[str, str | None, str, Any]] = []
    for name, info in IslesSettings.model_fields.items():
        if name in GROUPS:
            for field, sub in GROUPS[name].model_fields.items():
                found.append((f"ISLES_{name}_{sub.alias or field}".upper(), name, field, sub))
        else:
            found.append((f"ISLES_{name}".upper(), None, name, info))
    return found


def _other_value(info: Any) -> tuple[str, Any]:
    """A valid value unlike the default, as the environment gives it and as read."""
    if info.examples:  # a value with a form (a URL, name=value pairs): the setting's own example
        return str(info.examples[0]), info.examples[0]
    default = info.default
    options = get_args(info.annotation)
    literal = [a for o in options for a in get_args(o)] or list(options)
    if isinstance(default, bool):
        return str(not default).lower(), not default
    if isinstance(default, int):
        return str(default + 1), default + 1
    if isinstance(default, float):
        return str(default + 0.5), default + 0.5
    if isinstance(default, tuple):
        return "[0.5, 2.0]", (0.5, 2.0)
    if isinstance(default, Path) or "Path" in str(info.annotation):
        return "/tmp/elsewhere", Path("/tmp/elsewhere")
    if literal and all(isinstance(x, str) for x in literal if x is not type(None)):
        pick = next(x for x in literal if isinstance(x, str) and x != default)
        return pick, pick
    return "other-value", "other-value"


@pytest.mark.parametrize(("variable", "group", "field", "info"), _names(), ids=[n[0] for n in _names()])
def test_every_variable_reaches_its_setting(
    variable: str, group: str | None, field: str, info: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, expected = _other_value(info)
    monkeypatch.setenv(variable, raw)
    settings = IslesSettings()
    value = getattr(getattr(settings, group), field) if group else getattr(settings, field)
    assert value == expected
    assert value != info.default


def test_a_flat_name_sets_a_grouped_setting_and_wins_over_the_group_given_whole() -> None:
    s = IslesSettings(relay_batch_size=7, relay={"batch_size": 3, "linger": 0.0}, mail_from="a@b.example")
    assert (s.relay.batch_size, s.relay.linger, s.mail.from_) == (7, 0.0, "a@b.example")
    assert s.relay.poll_interval == 1.0, "the rest keep their defaults"


def test_a_flat_name_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLES_RELAY_BATCH_SIZE", "9")
    monkeypatch.setenv("ISLES_RELAY_LINGER", "0.5")
    s = IslesSettings(relay_batch_size=4)
    assert (s.relay.batch_size, s.relay.linger) == (4, 0.5)


def test_but_changes_and_validates() -> None:
    s = IslesSettings(relay_batch_size=7)
    t = s.but(relay_enabled=False, saga_wait_seconds=1.0, bus="nats")
    assert (t.relay.enabled, t.relay.batch_size, t.saga.wait_seconds, t.bus) == (False, 7, 1.0, "nats")
    assert s.relay.enabled is True, "the original is unchanged"
    with pytest.raises(ValidationError, match=r"relay\.batch_size"):
        s.but(relay_batch_size=0)


def test_a_bad_variable_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLES_CONSUMER_BATCH_SIZE", "lots")
    with pytest.raises(ValidationError, match=r"consumer\.batch_size"):
        IslesSettings()


def test_the_groups_are_what_the_parts_take() -> None:
    """No copying into look-alike policy objects: the part gets the group."""
    from isles.clients.service import ServiceClient
    from isles.messaging.consumer import Consumer
    from isles.sagas.runner import SagaRunner
    from isles.storage.db import ServiceDatabase

    hints = {
        Consumer: ("retry", "RetrySettings"),
        SagaRunner: ("settings", "SagaSettings"),
        ServiceClient: ("policy", "ClientSettings"),
        ServiceDatabase: ("pool", "PoolSettings"),
    }
    for part, (parameter, group) in hints.items():
        annotation = str(part.__init__.__annotations__[parameter])
        assert group in annotation, f"{part.__name__}({parameter}=...) takes {annotation}"
    for group in GROUPS.values():
        assert issubclass(group, BaseModel)


def test_service_variables_are_read_by_one_class() -> None:
    env = ServiceEnvironment(
        {
            "ISLES_PROJECT_DATABASE_URL": "sqlite+aiosqlite:///p.db",
            "ISLES_EMPLOYEE_URL": "http://e:1",
            "ISLES_PROJECT_POOL_PING_IDLE": "0",
        }
    )
    assert env.database_url("project") == "sqlite+aiosqlite:///p.db"
    assert env.database_url("employee") is None
    assert env.peer_urls(["employee", "project"]) == {"employee": "http://e:1"}
    assert env.pool("project", PoolSettings(size=3)) == PoolSettings(size=3, ping_idle=0.0)


def test_no_other_module_reads_an_isles_variable() -> None:
    reads = re.compile(r"""(\.get\(|getenv\(|environ\[|env\[)\s*f?["']ISLES_[^"']*["']\s*[\])]?(?!\s*=[^=])""")
    offenders = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        if path.name == "settings.py" and path.parent.name == "core":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if reads.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "read ISLES_* in isles.core.settings:\n" + "\n".join(offenders)


def test_every_variable_is_documented() -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    missing = [variable for variable, *_ in _names() if variable not in text]
    assert not missing, f"docs/configuration.md does not name {missing}"
