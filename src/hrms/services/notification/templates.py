"""Message templates: the defaults every company starts with, their placeholders, and
rendering (``string.Template``: ``$name`` is replaced, nothing is evaluated)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Default:
    subject: str
    body: str
    placeholders: frozenset[str]
    description: str


_PERSON = frozenset({"first_name", "last_name", "email"})

DEFAULTS: dict[str, Default] = {
    "welcome": Default(
        "Welcome, $first_name",
        "Hello $first_name $last_name,\n\nyour account ($email) is ready. Log in to get started.\n",
        _PERSON,
        "A user can log in for the first time (auth UserCreated).",
    ),
    "email_changed": Default(
        "Your email address was changed",
        "Hello $first_name,\n\nthe address of your account is now $email. If you did not ask for this, "
        "tell your administrator.\n",
        _PERSON,
        "A user's email address changed (auth UserUpdated with email in changes); sent to the new address.",
    ),
    "assignment_created": Default(
        "You are on $project_name",
        "Hello $first_name,\n\nyou have been assigned to $project_name as $role ($allocation%), from $start_date.\n",
        _PERSON | {"project_name", "role", "allocation", "start_date"},
        "An employee was assigned to a project (project AssignmentCreated).",
    ),
}


class TemplateError(ValueError):
    """A template names a placeholder it may not use, or is malformed."""


def check(key: str, text: str) -> None:
    """Raise :class:`TemplateError` if ``text`` is malformed or uses a placeholder the
    ``key`` template does not offer."""
    try:
        names = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)}
        if any(m.group("invalid") is not None for m in string.Template.pattern.finditer(text)):
            raise TemplateError("a lone $ (write $$ for a dollar sign)")
    except (ValueError, AttributeError) as exc:
        raise TemplateError(str(exc)) from exc
    unknown = sorted(n for n in names if n and n not in DEFAULTS[key].placeholders)
    if unknown:
        allowed = ", ".join(f"${p}" for p in sorted(DEFAULTS[key].placeholders))
        raise TemplateError(f"unknown placeholder ${unknown[0]}; {key} offers {allowed}")


def render(text: str, values: dict[str, Any]) -> str:
    return string.Template(text).safe_substitute({k: str(v) for k, v in values.items()})
