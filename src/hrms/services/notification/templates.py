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
_LEAVE = _PERSON | {"leave_type", "start_date", "end_date", "days"}

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
    "leave_requested": Default(
        "Your $leave_type request is waiting for approval",
        "Hello $first_name,\n\nyour request for $leave_type from $start_date to $end_date ($days days) was "
        "received and waits for approval.\n",
        _LEAVE | {"requester"},
        "A receipt to the employee who asked for leave (leave LeaveRequested).",
    ),
    "leave_request_waiting": Default(
        "$requester asks for $leave_type",
        "Hello $first_name,\n\n$requester asks for $leave_type from $start_date to $end_date ($days days). "
        "Approve or reject it in the leave requests waiting for you.\n",
        _LEAVE | {"requester"},
        "A leave request waits for this person's decision: the requester's manager, else the company's admins "
        "(leave LeaveRequested).",
    ),
    "leave_approved": Default(
        "Your $leave_type is approved",
        "Hello $first_name,\n\nyour $leave_type from $start_date to $end_date ($days days) is approved.\n",
        _LEAVE,
        "A leave request was approved (leave LeaveApproved).",
    ),
    "leave_rejected": Default(
        "Your $leave_type request was rejected",
        "Hello $first_name,\n\nyour request for $leave_type from $start_date to $end_date ($days days) was "
        "rejected. $comment\n",
        _LEAVE | {"comment"},
        "A leave request was rejected (leave LeaveRejected).",
    ),
    "leave_cancelled": Default(
        "Your $leave_type is cancelled",
        "Hello $first_name,\n\nyour $leave_type from $start_date to $end_date ($days days) is cancelled.\n",
        _LEAVE,
        "A leave request was cancelled, by the requester or by an admin (leave LeaveCancelled).",
    ),
    "task_assigned": Default(
        "New task: $title",
        'Hello $first_name,\n\nthe task "$title" is yours now (priority $priority, due $due_date).\n',
        _PERSON | {"title", "priority", "due_date"},
        "A task was assigned to this person (tasks TaskAssigned).",
    ),
    "task_completed": Default(
        "Done: $title",
        'Hello $first_name,\n\nthe task "$title" you created is done.\n',
        _PERSON | {"title"},
        "A task this person created is done (tasks TaskCompleted).",
    ),
    "document_expiring": Default(
        "$title expires in $days_left days",
        'Hello $first_name,\n\nthe document "$title" ($category) of $owner expires on $expires_on, in $days_left '
        "days. Upload its renewal as a new version.\n",
        _PERSON | {"title", "category", "owner", "expires_on", "days_left"},
        "A document expires in 30, then 7 days: to its employee and the company's admins (document DocumentExpiring).",
    ),
    "contract_ending": Default(
        "Your contract ends on $end_date",
        "Hello $first_name,\n\nyour contract as $position ends on $end_date, in $days_left days.\n",
        _PERSON | {"position", "end_date", "days_left"},
        "The employee's contract ends within 30 days, then within 7 (contract ContractEnding).",
    ),
    "contract_ending_hr": Default(
        "The contract of $employee ends on $end_date",
        "Hello $first_name,\n\nthe contract of $employee as $position ends on $end_date, in $days_left days.\n",
        _PERSON | {"employee", "position", "end_date", "days_left"},
        "To the company's admins (HR): an employee's contract ends within 30 days, then within 7 "
        "(contract ContractEnding).",
    ),
    "report_ready": Default(
        "$report: $period_start to $period_end",
        'Hello $first_name,\n\nthe report "$report" for $period_start to $period_end is ready.\n\n$summary\n\n'
        "The figures as CSV: $csv_path\nAs a chart: $chart_path\n",
        _PERSON | {"report", "period_start", "period_end", "summary", "csv_path", "chart_path"},
        "A scheduled report ran for the period that ended: to its recipients (analytics ReportReady).",
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
