"""Backup and restore benchmark (issue 21): the whole HR system on PostgreSQL with N
employees (100,000 by default), backed up by ``isles.tools.backup.backup()``, restored
into new databases by ``restore()``, and verified by ``restore(verify=True)``, beside
``pg_dump``/``pg_restore`` of the biggest service database by hand (the floor: what
the tool adds over the raw tools), in the same run.

    python benchmarks/backup.py                     # 100,000 employees (about 5 million rows)
    python benchmarks/backup.py --quick             # 300 employees (the smoke test's size)
    python benchmarks/backup.py --employees 10000 --keep   # keep the databases and the backup

Every service's database (``<prefix>_<service>``, ``isles_bench_backup_*`` by default)
is created and migrated by the runtime's own migration (as ``isles up`` on start),
then filled by the server itself (``generate_series``): each service's own rows for
every employee, the copies the other services keep of employees and users, outbox
rows (published, the newest few not) and the consumers' inbox rows, so the databases
look like a running system's. Then, timed: the tool's backup of every service (and
the folder's size), its restore into new databases (``<prefix>_restored_<service>``),
its verify (scratch databases, dropped), and for the biggest database the tool on
that service alone beside ``pg_dump``/``pg_restore`` by hand with the same format and
level (the ratio is what the tool adds). It prints a table (step, seconds, MB,
rows/s), the peak RSS of this process (the tool runs in it) and of ``pg_dump`` and
``pg_restore`` by hand (``/usr/bin/time``).

The PostgreSQL server is shared: when a step fails because the server had no
connection to spare (the tool's own connections, its ``pg_dump``/``pg_restore``), it
is run again, said so in the output, and only the attempt that succeeded is timed.

The restored databases' row counts are compared, table by table, with the source's
(counted before the backup; nothing writes meanwhile); any difference, or a restore
that reports a problem, exits 1. What it made is dropped at the end (also after a
failure) unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
T = TypeVar("T")

# ---------------------------------------------------------------------------------------
# The fill: SQL run by the server. {N} is the number of employees, {P} of projects.
# Ids are derived from the row number (md5 of a label), so every service names the same
# employee, user, department and event with the same UUID, as the real system does.

C = "md5('company-1')::uuid"
EMP = "md5('e' || i)::uuid"
USR = "md5('u' || i)::uuid"
DEPT = "md5('d' || (1 + i % 10))::uuid"
TS = "(timestamptz '2026-01-01 08:00+00' + i * interval '1 minute')"
NAME = "'First' || i, 'Last' || i"
EMAIL = "'person' || i || '@bench.example.com'"
UNPUBLISHED = 25  # the newest outbox rows of each owner are not published yet


def outbox(event_type: str, aggregate_type: str, aggregate: str, count: str, label: str, version: str = "1") -> str:
    """``count`` outbox rows of ``event_type`` (a CloudEvent's JSON as the payload),
    published but for the newest few. ``label`` makes the event ids (the consumers'
    inbox rows use the same)."""
    return f"""
    INSERT INTO isles_outbox_events (event_id, event_type, aggregate_type, aggregate_id, aggregate_version,
        tenant_id, payload, created_at, published_at)
    SELECT md5('{label}-' || i)::uuid, '{event_type}', '{aggregate_type}', ({aggregate})::text, {version},
        ({C})::text,
        json_build_object('specversion', '1.0', 'id', md5('{label}-' || i)::uuid, 'type', '{event_type}',
            'source', '{event_type.split(".")[0]}', 'subject', {aggregate}, 'time', {TS},
            'datacontenttype', 'application/json', 'tenant', {C},
            'data', json_build_object('id', {aggregate}, 'company_id', {C}, 'first_name', 'First' || i,
                'last_name', 'Last' || i, 'email', {EMAIL}, 'version', {version}))::text,
        {TS}, CASE WHEN i > ({count}) - least({UNPUBLISHED}, ({count}) / 10) THEN NULL ELSE {TS} + interval '5 ms' END
    FROM generate_series(1, {count}) i"""


def inbox(event_type: str, source: str, aggregate: str, count: str, label: str) -> str:
    """The consumer's record of ``count`` events taken in (ids as the owner's outbox)."""
    return f"""
    INSERT INTO isles_inbox_events (event_id, event_type, source, aggregate_id, aggregate_version, status,
        processed_at)
    SELECT md5('{label}-' || i)::uuid, '{event_type}', '{source}', ({aggregate})::text, 1, 'processed',
        {TS} + interval '20 ms'
    FROM generate_series(1, {count}) i"""


def employee_copy_inboxes() -> list[str]:
    return [
        inbox("employee.EmployeeCreated", "employee", EMP, "{N}", "employee-created"),
        inbox("auth.UserCreated", "auth", USR, "{N}", "user-created"),
    ]


FILL: dict[str, list[str]] = {
    "auth": [
        f"""INSERT INTO users (id, email, password_hash, first_name, last_name, company_id, is_active,
            email_verified, created_at, updated_at, version, pending, failed_logins)
        SELECT {USR}, {EMAIL}, '$argon2id$v=19$m=65536,t=3,p=4$' || md5('s' || i) || '$' || md5('h' || i)
            || md5('g' || i), {NAME}, {C}, true, true, {TS}, {TS}, 1, false, 0
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO user_preferences (id, user_id, company_id, created_at, updated_at)
        SELECT md5('up' || i)::uuid, {USR}, {C}, {TS}, {TS} FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO user_roles (user_id, role_id, company_id, assigned_at)
        SELECT {USR}, r.id, {C}, {TS} FROM generate_series(1, {{N}}) i
        JOIN roles r ON r.name = CASE WHEN i = 1 THEN 'admin' WHEN i % 10 = 1 THEN 'manager' ELSE 'employee' END""",
        f"""INSERT INTO sessions (id, user_id, company_id, token_hash, expires_at, last_used_at, user_agent,
            created_at)
        SELECT md5('se' || i)::uuid, {USR}, {C}, md5('token' || i) || md5('t2' || i), {TS} + interval '30 days',
            {TS}, 'Mozilla/5.0 (bench)', {TS}
        FROM generate_series(1, {{N}} / 4) i""",
        outbox("auth.UserCreated", "auth.User", USR, "{N}", "user-created"),
    ],
    "company": [
        f"""INSERT INTO companies (id, name, industry, size, website, is_active, headcount, created_at,
            updated_at, version)
        VALUES ({C}, 'Bench Company', 'software', 'large', 'https://bench.example.com', true, {{N}},
            now(), now(), 1)""",
        f"""INSERT INTO departments (id, company_id, name, description, created_at, updated_at, version)
        SELECT md5('d' || k)::uuid, {C}, 'Department ' || k, 'The department number ' || k, now(), now(), 1
        FROM generate_series(1, 10) k""",
        f"""INSERT INTO teams (id, company_id, department_id, name, created_at, updated_at, version)
        SELECT md5('t' || k)::uuid, {C}, md5('d' || (1 + k % 10))::uuid, 'Team ' || k, now(), now(), 1
        FROM generate_series(1, 20) k""",
        f"""INSERT INTO team_memberships (team_id, employee_id, company_id, role, created_at)
        SELECT md5('t' || (1 + i % 20))::uuid, {EMP}, {C}, 'member', {TS} FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO employee_copies (id, company_id, user_id, full_name, department_id, is_active, version,
            updated_at)
        SELECT {EMP}, {C}, {USR}, 'First' || i || ' Last' || i, {DEPT}, true, 1 + (i % 2 = 0)::int, {TS}
        FROM generate_series(1, {{N}}) i""",
        outbox("company.DepartmentCreated", "company.Department", "md5('d' || i)::uuid", "10", "department"),
        inbox("employee.EmployeeCreated", "employee", EMP, "{N}", "employee-created"),
    ],
    "employee": [
        f"""INSERT INTO employees (id, employee_id, company_id, user_id, first_name, last_name, email, phone,
            position, department_id, hire_date, salary, is_active, created_at, updated_at, version, pending,
            manager_id, valid_from)
        SELECT {EMP}, 'E-' || lpad(i::text, 7, '0'), {C}, {USR}, {NAME}, {EMAIL},
            '+1555' || lpad(i::text, 7, '0'),
            (ARRAY['Engineer', 'Analyst', 'Designer', 'Manager', 'Clerk'])[1 + i % 5], {DEPT},
            date '2015-01-01' + i % 3650, 'enc:v1:' || encode(sha256(('salary' || i)::bytea), 'base64'),
            true, {TS}, {TS}, 1 + (i % 2 = 0)::int, false,
            CASE WHEN i % 10 = 1 THEN NULL ELSE md5('e' || ((i - 1) / 10 * 10 + 1))::uuid END, {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO employee_profiles (employee_id, company_id, date_of_birth, gender, address,
            emergency_contact_name, emergency_contact_phone, skills, certifications, created_at, updated_at)
        SELECT {EMP}, {C}, 'enc:v1:' || md5('dob' || i), (ARRAY['f', 'm', 'x'])[1 + i % 3],
            'enc:v1:' || md5('addr' || i) || md5('addr2' || i), 'enc:v1:' || md5('ecn' || i),
            'enc:v1:' || md5('ecp' || i), ARRAY['python', 'sql', 'skill' || (i % 50)], ARRAY[]::varchar[],
            {TS}, {TS}
        FROM generate_series(1, {{N}}) i""",
        # The even employees were changed once: their first version is history.
        """INSERT INTO employees_history (id, employee_id, company_id, user_id, first_name, last_name, email,
            phone, position, department_id, manager_id, hire_date, salary, is_active, pending, created_at,
            updated_at, version, valid_from, valid_to, changed_by, change_reason, operation)
        SELECT id, employee_id, company_id, user_id, first_name, 'Before' || last_name, email, phone, position,
            department_id, manager_id, hire_date, salary, is_active, pending, created_at, created_at, 1,
            valid_from - interval '1 day', valid_from, 'operator', 'rename', 'update'
        FROM employees WHERE version = 2""",
        """INSERT INTO department_copies (id, name, version)
        SELECT md5('d' || k)::uuid, 'Department ' || k, 1 FROM generate_series(1, 10) k""",
        outbox("employee.EmployeeCreated", "employee.Employee", EMP, "{N}", "employee-created"),
        outbox("employee.EmployeeUpdated", "employee.Employee", EMP, "{N} / 2", "employee-updated", "2"),
        inbox("company.DepartmentCreated", "company", "md5('d' || i)::uuid", "10", "department"),
    ],
    "project": [
        f"""INSERT INTO projects (id, name, client, description, status, capacity, assigned_count, created_at,
            updated_at, version, company_id)
        SELECT md5('p' || k)::uuid, 'Project ' || k, 'Client ' || (k % 7), 'What project ' || k || ' is about',
            'active', 1000, 0, now(), now(), 1, {C}
        FROM generate_series(1, {{P}}) k""",
        f"""INSERT INTO employee_copies (id, full_name, is_active, version, updated_at, user_id)
        SELECT {EMP}, 'First' || i || ' Last' || i, true, 1 + (i % 2 = 0)::int, {TS}, {USR}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO assignments (id, employee_id, project_id, project_name, employee_name, employee_active,
            employee_version, role, allocation, start_date, deleted_at, created_at, updated_at, pending,
            company_id, client_name)
        SELECT md5('a' || i)::uuid, {EMP}, md5('p' || (1 + i % {{P}}))::uuid, 'Project ' || (1 + i % {{P}}),
            'First' || i || ' Last' || i, true, 1 + (i % 2 = 0)::int, 'developer', 50 + i % 51,
            date '2026-01-01' + i % 300, NULL, {TS}, {TS}, false, {C}, 'Client ' || ((1 + i % {{P}}) % 7)
        FROM generate_series(1, {{N}}) i""",
        """UPDATE projects SET assigned_count = (SELECT count(*) FROM assignments WHERE project_id = projects.id)""",
        """INSERT INTO company_policies (id, max_allocation_percent, version, updated_at)
        VALUES (md5('company-1')::uuid, 100, 1, now())""",
        outbox("project.AssignmentCreated", "project.Assignment", "md5('a' || i)::uuid", "{N}", "assignment"),
        inbox("employee.EmployeeCreated", "employee", EMP, "{N}", "employee-created"),
        inbox("employee.EmployeeUpdated", "employee", EMP, "{N} / 2", "employee-updated"),
    ],
    "notification": [
        f"""INSERT INTO notification_templates (id, company_id, key, subject, body, created_at, updated_at,
            version)
        SELECT md5('nt' || k)::uuid, {C}, (ARRAY['welcome', 'password_reset', 'leave_decided'])[k],
            'Subject ' || k, repeat('Template body. ', 20), now(), now(), 1
        FROM generate_series(1, 3) k""",
        f"""INSERT INTO notification_users (id, company_id, email, first_name, last_name, is_active, version,
            updated_at, email_notifications, roles)
        SELECT {USR}, {C}, {EMAIL}, {NAME}, true, 1, {TS}, true, ARRAY['employee'] FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO notification_employees (id, company_id, user_id, full_name, is_active, version, updated_at)
        SELECT {EMP}, {C}, {USR}, 'First' || i || ' Last' || i, true, 1 + (i % 2 = 0)::int, {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO notifications (id, company_id, user_id, email, template_key, subject, body, status,
            attempts, next_attempt_at, source_event_id, sent_at, created_at, updated_at)
        SELECT md5('n' || i)::uuid, {C}, {USR}, {EMAIL}, 'welcome', 'Welcome to Bench Company, First' || i,
            'Dear First' || i || E',\\n\\nchoose your password: https://hr.example.com/password/set?token='
                || md5('pt' || i) || E'\\n\\n' || repeat('Welcome aboard. ', 8),
            'DELIVERED', 1, {TS}, md5('employee-created-' || i)::uuid::text, {TS} + interval '1 s', {TS},
            {TS} + interval '1 s'
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO delivery_logs (id, notification_id, company_id, attempt, status, sender, created_at)
        SELECT md5('dl' || i)::uuid, md5('n' || i)::uuid, {C}, 1, 'DELIVERED', 'smtp', {TS} + interval '1 s'
        FROM generate_series(1, {{N}}) i""",
        *employee_copy_inboxes(),
    ],
    "tasks": [
        f"""INSERT INTO task_users (id, user_id, company_id, email, first_name, last_name, is_active, version,
            created_at, updated_at)
        SELECT {EMP}, {USR}, {C}, {EMAIL}, {NAME}, true, 1, {TS}, {TS} FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO tasks (id, company_id, title, description, status, priority, due_date, creator_id,
            assignee_id, created_at, updated_at, completed_at, version)
        SELECT md5('task' || i)::uuid, {C}, 'Task ' || i, 'What is to be done for task ' || i,
            (ARRAY['TODO', 'IN_PROGRESS', 'DONE', 'CANCELLED'])[1 + i % 4],
            (ARRAY['low', 'medium', 'high', 'urgent'])[1 + i % 4], date '2026-03-01' + i % 200,
            md5('e' || ((i - 1) / 10 * 10 + 1))::uuid, {EMP}, {TS}, {TS},
            CASE WHEN i % 4 = 2 THEN {TS} + interval '2 days' END, 1
        FROM generate_series(1, {{N}}) i""",
        *employee_copy_inboxes(),
    ],
    "leave": [
        f"""INSERT INTO leave_types (id, company_id, name, paid, allowance_days, half_days, allow_negative,
            carry_forward_cap, min_notice_days, approval_levels, is_active, version, created_at, updated_at)
        SELECT md5('lt' || k)::uuid, {C}, (ARRAY['Annual', 'Sick', 'Unpaid'])[k], k < 3,
            (ARRAY[25, 10, 0])[k], true, false, 5, 0, 1, true, 1, now(), now()
        FROM generate_series(1, 3) k""",
        f"""INSERT INTO work_weeks (company_id, working_days, updated_at) VALUES ({C}, '12345', now())""",
        f"""INSERT INTO holidays (id, company_id, name, day, recurring, created_at)
        SELECT md5('h' || k)::uuid, {C}, 'Holiday ' || k, date '2026-01-01' + k * 30, false, now()
        FROM generate_series(1, 10) k""",
        f"""INSERT INTO leave_request_users (id, user_id, company_id, email, first_name, last_name, manager_id,
            department_id, is_active, version, updated_at)
        SELECT {EMP}, {USR}, {C}, {EMAIL}, {NAME},
            CASE WHEN i % 10 = 1 THEN NULL ELSE md5('e' || ((i - 1) / 10 * 10 + 1))::uuid END, {DEPT}, true,
            1 + (i % 2 = 0)::int, {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO leave_ledger_entries (id, company_id, employee_id, leave_type_id, year, kind, days,
            effective_on, period_key, reason, created_at)
        SELECT md5('le' || i)::uuid, {C}, {EMP}, md5('lt1')::uuid, 2026, 'allocation', 25, date '2026-01-01',
            'allocation-2026', 'yearly allowance', {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO leave_requests (id, company_id, employee_id, employee_name, leave_type_id,
            leave_type_name, paid, start_date, end_date, first_day, last_day, days, reason, status, level,
            levels, approver_id, requested_by, decided_at, version, created_at, updated_at)
        SELECT md5('lr' || i)::uuid, {C}, {EMP}, 'First' || i || ' Last' || i, md5('lt1')::uuid, 'Annual',
            true, date '2026-06-01' + i % 90, date '2026-06-01' + i % 90 + 2, 'full', 'full', 3, 'holiday',
            'APPROVED', 1, 1, md5('e' || ((i - 1) / 10 * 10 + 1))::uuid, {USR}, {TS} + interval '1 day', 2,
            {TS}, {TS} + interval '1 day'
        FROM generate_series(1, {{N}} / 5) i""",
        f"""INSERT INTO leave_approvals (id, company_id, request_id, level, decision, decided_by, decided_at)
        SELECT md5('la' || i)::uuid, {C}, md5('lr' || i)::uuid, 1, 'approved',
            md5('e' || ((i - 1) / 10 * 10 + 1))::uuid, {TS} + interval '1 day'
        FROM generate_series(1, {{N}} / 5) i""",
        f"""INSERT INTO leave_ledger_entries (id, company_id, employee_id, leave_type_id, year, kind, days,
            effective_on, request_id, created_at)
        SELECT md5('lt-taken' || i)::uuid, {C}, {EMP}, md5('lt1')::uuid, 2026, 'taken', -3,
            date '2026-06-01' + i % 90, md5('lr' || i)::uuid, {TS} + interval '1 day'
        FROM generate_series(1, {{N}} / 5) i""",
        f"""INSERT INTO leave_balances (id, company_id, employee_id, leave_type_id, year, credited, taken,
            balance, entries, updated_at)
        SELECT md5('lb' || i)::uuid, {C}, {EMP}, md5('lt1')::uuid, 2026, 25, CASE WHEN i <= {{N}} / 5 THEN 3 ELSE 0
            END, CASE WHEN i <= {{N}} / 5 THEN 22 ELSE 25 END, CASE WHEN i <= {{N}} / 5 THEN 2 ELSE 1 END, {TS}
        FROM generate_series(1, {{N}}) i""",
        outbox("leave.LeaveApproved", "leave.LeaveRequest", "md5('lr' || i)::uuid", "{N} / 5", "leave-approved"),
        *employee_copy_inboxes(),
    ],
    "presence": [
        f"""INSERT INTO presence_settings (company_id, enforce_geofence, timezone, version, updated_at)
        VALUES ({C}, false, 'Europe/Berlin', 1, now())""",
        f"""INSERT INTO places (id, company_id, name, latitude, longitude, radius_m, version, created_at,
            updated_at)
        VALUES (md5('place-1')::uuid, {C}, 'Head office', 52.52, 13.405, 150, 1, now(), now())""",
        f"""INSERT INTO shifts (id, company_id, name, start_time, end_time, weekdays, late_grace_minutes,
            early_grace_minutes, half_day_minutes, version, created_at, updated_at)
        VALUES (md5('shift-1')::uuid, {C}, 'Day', '09:00', '17:00', '12345', 10, 10, 240, 1,
            now(), now())""",
        f"""INSERT INTO checkin_user_infos (id, company_id, user_id, email, first_name, last_name, manager_id,
            is_active, version, updated_at)
        SELECT {EMP}, {C}, {USR}, {EMAIL}, {NAME},
            CASE WHEN i % 10 = 1 THEN NULL ELSE md5('e' || ((i - 1) / 10 * 10 + 1))::uuid END, true,
            1 + (i % 2 = 0)::int, {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO shift_assignments (id, company_id, employee_id, shift_id, start_date, created_at)
        SELECT md5('sa' || i)::uuid, {C}, {EMP}, md5('shift-1')::uuid, date '2026-01-01', {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO checkins (id, company_id, employee_id, kind, at, source, place_id, latitude, longitude,
            accuracy_m, is_void, made_by, created_at)
        SELECT md5('ci' || k || '-' || i)::uuid, {C}, {EMP}, (ARRAY['in', 'out'])[k],
            timestamptz '2026-11-27 08:00+00' + (k - 1) * interval '8 hours' + (i % 60) * interval '1 minute',
            'mobile', md5('place-1')::uuid, 52.52, 13.405, 12.5, false, 'self',
            timestamptz '2026-11-27 08:00+00' + (k - 1) * interval '8 hours'
        FROM generate_series(1, {{N}}) i CROSS JOIN generate_series(1, 2) k""",
        f"""INSERT INTO attendance_days (id, company_id, employee_id, day, status, late, left_early,
            missing_checkout, shift_id, first_in, last_out, worked_minutes, version, computed_at)
        SELECT md5('ad' || i)::uuid, {C}, {EMP}, date '2026-11-27', 'present', i % 60 > 10, false, false,
            md5('shift-1')::uuid, timestamptz '2026-11-27 08:00+00' + (i % 60) * interval '1 minute',
            timestamptz '2026-11-27 16:00+00' + (i % 60) * interval '1 minute', 480, 1, now()
        FROM generate_series(1, {{N}}) i""",
        *employee_copy_inboxes(),
    ],
    "document": [
        f"""INSERT INTO document_users (id, user_id, company_id, email, first_name, last_name, manager_id,
            department_id, is_active, version, updated_at)
        SELECT {EMP}, {USR}, {C}, {EMAIL}, {NAME},
            CASE WHEN i % 10 = 1 THEN NULL ELSE md5('e' || ((i - 1) / 10 * 10 + 1))::uuid END, {DEPT}, true,
            1 + (i % 2 = 0)::int, {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO documents (id, company_id, employee_id, title, category, expires_on, current_version,
            created_by, version, created_at, updated_at, valid_from)
        SELECT md5('doc' || i)::uuid, {C}, {EMP}, 'Signed contract of First' || i || ' Last' || i, 'contract',
            CASE WHEN i % 5 = 0 THEN date '2027-01-01' + i % 365 END, 1, md5('u1')::uuid, 1, {TS}, {TS}, {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO document_versions (id, company_id, document_id, number, filename, size, media_type,
            sha256, uploaded_by, uploaded_at)
        SELECT md5('dv' || i)::uuid, {C}, md5('doc' || i)::uuid, 1, 'contract-' || i || '.pdf',
            100000 + i % 50000, 'application/pdf', encode(sha256(('doc' || i)::bytea), 'hex'), md5('u1')::uuid,
            {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO document_permissions (id, company_id, document_id, access, employee_id, granted_by,
            created_at)
        SELECT md5('dp' || i)::uuid, {C}, md5('doc' || i)::uuid, 'read', {EMP}, md5('u1')::uuid, {TS}
        FROM generate_series(1, {{N}} / 10) i""",
        outbox("document.DocumentUploaded", "document.Document", "md5('doc' || i)::uuid", "{N}", "document"),
        *employee_copy_inboxes(),
    ],
    "contract": [
        f"""INSERT INTO contract_employees (id, user_id, company_id, manager_id, is_active, version, updated_at)
        SELECT {EMP}, {USR}, {C},
            CASE WHEN i % 10 = 1 THEN NULL ELSE md5('e' || ((i - 1) / 10 * 10 + 1))::uuid END, true,
            1 + (i % 2 = 0)::int, {TS}
        FROM generate_series(1, {{N}}) i""",
        f"""INSERT INTO contracts (id, company_id, employee_id, contract_type, status, start_date, end_date,
            weekly_hours, salary, currency, position, notice_period_days, signed_document_id, version,
            created_at, updated_at, valid_from)
        SELECT md5('c' || i)::uuid, {C}, {EMP}, (ARRAY['permanent', 'fixed_term'])[1 + i % 2], 'ACTIVE',
            date '2015-01-01' + i % 3650, CASE WHEN i % 2 = 1 THEN date '2027-01-01' + i % 700 END, 40,
            40000 + (i % 60) * 1000, 'EUR',
            (ARRAY['Engineer', 'Analyst', 'Designer', 'Manager', 'Clerk'])[1 + i % 5], 30,
            md5('doc' || i)::uuid, 1 + (i % 2 = 0)::int, {TS}, {TS}, {TS}
        FROM generate_series(1, {{N}}) i""",
        """INSERT INTO contracts_history (id, company_id, employee_id, contract_type, status, start_date,
            end_date, weekly_hours, salary, currency, position, notice_period_days, signed_document_id, version,
            created_at, updated_at, valid_from, valid_to, changed_by, change_reason, operation)
        SELECT id, company_id, employee_id, contract_type, 'SCHEDULED', start_date, end_date, weekly_hours,
            salary - 1000, currency, position, notice_period_days, signed_document_id, 1, created_at,
            created_at, valid_from - interval '1 day', valid_from, 'operator', 'raise', 'update'
        FROM contracts WHERE version = 2""",
        outbox("contract.ContractCreated", "contract.Contract", "md5('c' || i)::uuid", "{N}", "contract"),
        *employee_copy_inboxes(),
    ],
}


# ---------------------------------------------------------------------------------------
# Helpers


def _dsn(db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


async def _connect(db: str) -> Any:
    from isles.storage.db import connect_waiting

    return await connect_waiting(_dsn(db), wait=120)


async def fill(db: str, statements: list[str], n: int) -> None:
    conn = await _connect(db)
    try:
        projects = max(1, n // 100)
        async with conn.transaction():
            for sql in statements:
                await conn.execute(sql.replace("{N}", str(n)).replace("{P}", str(projects)))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def counts(db: str) -> dict[str, int]:
    """Every table's row count (as the superuser: row-level security does not hide rows)."""
    conn = await _connect(db)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        )
        return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{s}"."{t}"')) for s, t in tables}
    finally:
        await conn.close()


async def sizes(dbs: list[str]) -> dict[str, int]:
    conn = await _connect("postgres")
    try:
        return {db: int(await conn.fetchval("SELECT pg_database_size($1)", db)) for db in dbs}
    finally:
        await conn.close()


async def drop(dbs: list[str]) -> None:
    """Drop those of ``dbs`` that exist, at once (a DROP DATABASE waits for a
    checkpoint; drops at the same time share it), twelve connections at most."""
    conn = await _connect("postgres")
    try:
        there = {r[0] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname = ANY($1)", dbs)}
    finally:
        await conn.close()
    gate = asyncio.Semaphore(12)

    async def one(db: str) -> None:
        async with gate:
            c = await _connect("postgres")
            try:
                await c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            finally:
                await c.close()

    await asyncio.gather(*(one(db) for db in dbs if db in there))


async def create(db: str) -> None:
    conn = await _connect("postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()


async def migrate(system: Any, prefix: str, tmp: Path) -> None:
    """Every service's database created and migrated, as ``isles up`` does on start."""
    from isles.core.settings import IslesSettings
    from isles.runtime.system import SystemRuntime

    settings = IslesSettings(
        database_url=f"{SERVER}/{prefix}_{{service}}",
        data_dir=tmp / "data",
        keys_dir=tmp / "keys",
        generate_keys=True,
        pool_size=2,
    )
    runtime = SystemRuntime(system, settings, environ={})
    try:
        await runtime.prepare()
    finally:
        for rt in runtime.services.values():
            await rt.db.dispose()


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def retried(what: str, make: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """``make()``'s result and seconds; tried again (up to 5 times, untimed waits)
    when the server had no connection to spare for the tool's ``pg_dump``/``pg_restore``
    or its own connections (the server is shared)."""
    for attempt in range(5):
        started = time.perf_counter()
        try:
            result = await make()
        except Exception as exc:
            if "too many clients" not in str(exc) or attempt == 4:
                raise
            print(f"  ({what}: the server was full, tried again: {str(exc).splitlines()[0][:120]})", flush=True)
            await asyncio.sleep(2 + attempt * 2)
            continue
        return result, time.perf_counter() - started
    raise AssertionError("unreachable")


def run_tool(argv: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (KiB, ``/usr/bin/time``'s: the command's own) of one
    command; tried again when the server had no connection to spare."""
    for attempt in range(5):
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode == 0:
            return seconds, int(done.stderr.strip().splitlines()[-1])
        if "too many clients" not in done.stderr or attempt == 4:
            raise SystemExit(f"{' '.join(argv[:3])} ...: exit {done.returncode}: {done.stderr.strip()[-1000:]}")
        time.sleep(2 + attempt * 2)
    raise AssertionError("unreachable")


def mib(n: float) -> float:
    return n / (1 << 20)


# ---------------------------------------------------------------------------------------
# The run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="300 employees (the smoke test's size)")
    parser.add_argument("--prefix", default="isles_bench_backup", help="the databases' names begin so")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the backup folder")
    parser.add_argument(
        "--services", default="", help="only these services, comma-separated (the smoke test's: fewer databases)"
    )
    args = parser.parse_args()
    n = 300 if args.quick else args.employees
    only = [s for s in args.services.split(",") if s]
    return asyncio.run(run(n, args.prefix, args.keep, only))


async def run(n: int, prefix: str, keep: bool, only: list[str] | None = None) -> int:
    from hrms.system import build
    from isles import System
    from isles.tools.backup import backup as isles_backup
    from isles.tools.backup import restore

    system = build()
    if only:
        unknown = sorted(set(only) - {s.name for s in system.services})
        if unknown:
            print(f"error: --services: no service {', '.join(unknown)} in the HR system", file=sys.stderr)
            return 2
        system = System(name=system.name, services=[s for s in system.services if s.name in only], demo=system.demo)
    services = [s.name for s in system.services]
    source = {s: f"{prefix}_{s}" for s in services}
    restored = {s: f"{prefix}_restored_{s}" for s in services}
    made: list[str] = [*source.values(), *restored.values()]
    tmp = Path(tempfile.mkdtemp(prefix="isles-bench-backup-"))
    failures: list[str] = []
    print(f"backup and restore of the HR system: {n:,} employees, {len(services)} services on PostgreSQL", flush=True)
    try:
        await drop(made)  # a run stopped before its clean-up
        t0 = time.perf_counter()
        await migrate(system, prefix, tmp)
        migrated = time.perf_counter() - t0
        t0 = time.perf_counter()
        # Two services at a time: the server's two cores, few connections.
        gate = asyncio.Semaphore(2)

        async def one(service: str) -> None:
            async with gate:
                await fill(source[service], FILL[service], n)

        await asyncio.gather(*(one(s) for s in services))
        filled = time.perf_counter() - t0
        print(f"  migrated in {migrated:.1f} s (the runtime's own migration), filled in {filled:.1f} s", flush=True)

        # What the source holds (nothing writes to it from here on).
        source_rows = {s: await counts(source[s]) for s in services}
        source_size = await sizes(list(source.values()))
        total_rows = sum(sum(r.values()) for r in source_rows.values())
        total_size = sum(source_size.values())
        print(f"{'service':<14}{'tables':>7}{'rows':>12}{'MB on disk':>12}")
        for s in services:
            rows = sum(source_rows[s].values())
            print(f"{s:<14}{len(source_rows[s]):>7}{rows:>12,}{mib(source_size[source[s]]):>12.1f}")
        print(f"{'total':<14}{sum(map(len, source_rows.values())):>7}{total_rows:>12,}{mib(total_size):>12.1f}")
        biggest = max(services, key=lambda s: source_size[source[s]])
        big_rows = sum(source_rows[biggest].values())
        print(f"  biggest: {biggest} ({big_rows:,} rows, {mib(source_size[source[biggest]]):.1f} MB)", flush=True)

        table: list[tuple[str, float, float, int]] = []

        def row(step: str, seconds: float, mb: float, rows: int) -> None:
            table.append((step, seconds, mb, rows))

        # 1. The tool: every service.
        backups = tmp / "backups"
        urls = {s: f"{SERVER}/{source[s]}" for s in services}
        manifest, seconds = await retried("backup", lambda: isles_backup(system, urls, backups))
        row(f"isles backup ({len(services)} services)", seconds, mib(folder_size(manifest.folder)), total_rows)
        spread = manifest.spread_ms

        # 2. Restore into new databases; 3. verify (scratch databases, dropped).
        targets = {s: f"{SERVER}/{restored[s]}" for s in services}

        async def into_new() -> Any:
            await drop(list(restored.values()))  # a try the server refused half-way
            return await restore(manifest.folder, targets)

        results, seconds = await retried("restore", into_new)
        restored_size = await sizes(list(restored.values()))
        row(f"isles restore, new databases ({len(services)})", seconds, mib(sum(restored_size.values())), total_rows)
        for r in results:
            failures += [f"restore {r.service}: {p}" for p in r.problems]
        for s in services:
            got = await counts(restored[s])
            if got != source_rows[s]:
                diff = {t: (source_rows[s].get(t), got.get(t)) for t in sorted(set(got) | set(source_rows[s]))}
                wrong = {t: d for t, d in diff.items() if d[0] != d[1]}
                failures.append(f"restored {s} differs from the source (table: source, restored): {wrong}")
        verified, seconds = await retried("verify", lambda: restore(manifest.folder, urls, verify=True))
        row(f"isles restore --verify ({len(services)})", seconds, mib(folder_size(manifest.folder)), total_rows)
        verify_seconds, verify_slowest = seconds, max(r.seconds for r in verified)
        for r in verified:
            failures += [f"verify {r.service}: {p}" for p in r.problems]
            if r.rows != sum(source_rows[r.service].values()):
                failures.append(f"verify {r.service}: {r.rows} rows, the source {sum(source_rows[r.service].values())}")

        # 4. The biggest database alone: the tool beside pg_dump / pg_restore by hand.
        one_manifest, tool_dump = await retried(
            "backup", lambda: isles_backup(system, urls, tmp / "one", services=[biggest])
        )
        row(f"isles backup ({biggest})", tool_dump, mib(folder_size(one_manifest.folder)), big_rows)
        dump_file = tmp / f"{biggest}.dump"
        raw_dump, dump_rss = run_tool(
            ["pg_dump", "--format=custom", "--compress=6", f"--file={dump_file}", f"--dbname={_dsn(source[biggest])}"]
        )
        row(f"pg_dump ({biggest}, by hand)", raw_dump, mib(dump_file.stat().st_size), big_rows)

        tool_db, raw_db = f"{prefix}_tool_{biggest}", f"{prefix}_raw_{biggest}"
        made += [tool_db, raw_db]
        await drop([tool_db, raw_db])

        async def tool_one() -> Any:
            await drop([tool_db])
            return await restore(one_manifest.folder, {biggest: f"{SERVER}/{tool_db}"})

        one_results, tool_restore = await retried("restore", tool_one)
        failures += [f"restore {biggest} alone: {p}" for r in one_results for p in r.problems]
        row(f"isles restore ({biggest})", tool_restore, mib((await sizes([tool_db]))[tool_db]), big_rows)
        t0 = time.perf_counter()
        await create(raw_db)
        created = time.perf_counter() - t0
        restoring, restore_rss = run_tool(
            ["pg_restore", "--no-owner", "--single-transaction", f"--dbname={_dsn(raw_db)}", str(dump_file)]
        )
        raw_restore = created + restoring
        row(f"pg_restore ({biggest}, by hand)", raw_restore, mib((await sizes([raw_db]))[raw_db]), big_rows)
        if await counts(raw_db) != source_rows[biggest]:
            failures.append(f"pg_restore by hand: {raw_db}'s counts differ from the source's")

        print(f"{'step':<40}{'seconds':>9}{'MB':>10}{'rows/s':>12}")
        for step, secs, mb, rows in table:
            print(f"{step:<40}{secs:>9.2f}{mb:>10.1f}{rows / secs:>12,.0f}")
        print(
            "  MB: the backup's files (backup, pg_dump; read again by --verify), the restored databases on disk"
            " (restore); rows/s: the rows backed up or restored (every table's) per second"
        )
        print(
            f"  verify: the slowest service restored and counted in {verify_slowest:.2f} s; the rest of its"
            f" {verify_seconds:.2f} s is the files' sha256 and the scratch databases' drop (a checkpoint)"
        )
        print(f"  isles backup / pg_dump time ({biggest}): {tool_dump / raw_dump:.2f}x")
        print(f"  isles restore / pg_restore time ({biggest}): {tool_restore / raw_restore:.2f}x")
        print(f"  snapshots' spread across the {len(services)} services: {spread} ms")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"  peak RSS: this process {own:.1f} MiB (the tool's backups and restores run in it; their"
            f" pg_dump/pg_restore are processes of their own); by hand: pg_dump {dump_rss / 1024:.1f} MiB,"
            f" pg_restore {restore_rss / 1024:.1f} MiB"
        )
        if failures:
            for f in failures:
                print(f"  ! {f}")
            return 1
        print(f"  restored row counts: every table of every service equals the source's ({total_rows:,} rows)")
        return 0
    finally:
        if keep:
            print(f"  kept: databases {prefix}_*, the backups in {tmp}")
        else:
            t0 = time.perf_counter()
            await drop(made)
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"  dropped what it made in {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
