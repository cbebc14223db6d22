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
    "invitation": Default(
        "Welcome, $first_name: choose your password",
        "Hello $first_name $last_name,\n\nan account ($email) was made for you. Choose your password here "
        "(the link works once, until $link_expires):\n\n$set_password_url\n\nThen log in with your email "
        "and that password.\n",
        _PERSON | {"set_password_url", "link_expires"},
        "A new user without a password (a new hire) can log in once they choose one: a one-time link "
        "(auth UserCreated with invited).",
    ),
    "password_reset": Default(
        "Reset your password",
        "Hello $first_name,\n\nsomeone (you, we hope) asked to reset the password of $email. Choose a new one "
        "here (the link works once, until $link_expires):\n\n$set_password_url\n\nIf you did not ask, "
        "ignore this mail: your password stays as it is.\n",
        _PERSON | {"set_password_url", "link_expires"},
        "Someone asked for a reset-password link (auth PasswordResetRequested).",
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


#: Templates whose mail carries a one-time set-password link, of this purpose. The
#: link is made by the auth service when the mail is sent and is never stored here:
#: the stored message keeps the $set_password_url placeholder.
LINKS = {"invitation": "invitation", "password_reset": "reset"}


def render(text: str, values: dict[str, Any]) -> str:
    return string.Template(text).safe_substitute({k: str(v) for k, v in values.items()})
