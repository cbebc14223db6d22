"""``isles lint``: every rule with a failing and a passing example, the seeds'
examples, suppressions, configuration, the five output formats, exit codes, Alembic
migrations, and the system's own services (which must pass)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from isles.lint import engine, report
from isles.lint.config import LintConfig, load
from isles.lint.isles_source import read_migration
from isles.lint.model import LintInputError, Project
from isles.lint.rules import RULES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
ISLES = [sys.executable, "-m", "isles.cli"]


def findings(
    tmp_path: Path, text: str, name: str = "schema.sql", *, service: str = "users", config: LintConfig | None = None
) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    project = engine.read_files([path], service=service, config=config or LintConfig())
    return [f.code for f in engine.lint(project, config or LintConfig())]


GOOD_TABLE = """
CREATE TABLE users (
  id UUID PRIMARY KEY,
  company_id UUID NOT NULL,
  deleted_at TIMESTAMP,
  created_at TIMESTAMP NOT NULL DEFAULT now(),
  updated_at TIMESTAMP NOT NULL DEFAULT now()
);
CREATE INDEX idx_users_company_id ON users(company_id);
CREATE INDEX idx_users_deleted_at ON users(deleted_at);
"""

# code -> (failing, passing), each (text, file name)
CASES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "ISL100": (
        ("CREATE TABLE user_notifications (id UUID PRIMARY KEY, user_id UUID REFERENCES auth.users(id));", "a.sql"),
        ("CREATE TABLE user_notifications (id UUID PRIMARY KEY, user_id UUID);", "a.sql"),
    ),
    "ISL201": (
        ('CREATE TABLE "User" (id UUID PRIMARY KEY);', "a.sql"),
        ("CREATE TABLE user_preferences (id UUID PRIMARY KEY);", "a.sql"),
    ),
    "ISL202": (
        ('CREATE TABLE users (id UUID PRIMARY KEY, "createdAt" TIMESTAMP);', "a.sql"),
        ("CREATE TABLE users (id UUID PRIMARY KEY, email_address TEXT);", "a.sql"),
    ),
    "ISL203": (
        ("model Users {\n  id String @id @db.Uuid\n}\n", "schema.prisma"),
        ('model User {\n  id String @id @db.Uuid\n\n  @@map("users")\n}\n', "schema.prisma"),
    ),
    "ISL204": (
        ("CREATE TABLE users (id UUID PRIMARY KEY, email TEXT); CREATE INDEX users_email ON users(email);", "a.sql"),
        (
            "CREATE TABLE users (id UUID PRIMARY KEY, email TEXT); CREATE INDEX idx_users_email ON users(email);",
            "a.sql",
        ),
    ),
    "ISL301": (
        ("CREATE TABLE users (id SERIAL PRIMARY KEY);", "a.sql"),
        ("CREATE TABLE users (id UUID PRIMARY KEY);", "a.sql"),
    ),
    "ISL302": (
        ("CREATE TABLE users (id UUID PRIMARY KEY, company_id UUID NOT NULL);", "a.sql"),
        (GOOD_TABLE, "a.sql"),
    ),
    "ISL303": (
        ("CREATE TABLE users (id UUID PRIMARY KEY);", "a.sql"),
        (GOOD_TABLE, "a.sql"),
    ),
    "ISL304": (
        ("CREATE TABLE users (id UUID PRIMARY KEY, deleted_at TIMESTAMP);", "a.sql"),
        (GOOD_TABLE, "a.sql"),
    ),
    "ISL305": (
        ("CREATE TABLE users (id UUID PRIMARY KEY, metadata JSONB);", "a.sql"),
        ("CREATE TABLE users (id UUID PRIMARY KEY, theme TEXT);", "a.sql"),
    ),
    "ISL401": (
        ("ALTER TABLE users ADD COLUMN theme TEXT;", "0002_theme.up.sql"),
        ("ALTER TABLE users ADD COLUMN theme TEXT;", "0003_theme.up.sql"),  # its .down.sql is written below
    ),
    "ISL402": (
        ("ALTER TABLE users DROP COLUMN old_email;", "a.sql"),
        ("ALTER TABLE users ADD COLUMN new_email VARCHAR(255);", "a.sql"),
    ),
    "ISL403": (
        ("CREATE INDEX idx_users_email ON users(email);", "a.sql"),
        ("CREATE INDEX CONCURRENTLY idx_users_email ON users(email);", "a.sql"),
    ),
}


def test_every_rule_has_a_case_and_a_doc_page() -> None:
    assert set(CASES) | {"ISL001"} == set(RULES)
    for code in RULES:
        page = Path(__file__).resolve().parents[2] / RULES[code].doc
        assert page.is_file(), f"{code} has no {RULES[code].doc}"
        assert code in page.read_text()


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_rule_fails_its_bad_example_and_passes_its_good_one(tmp_path: Path, code: str) -> None:
    (bad, bad_name), (good, good_name) = CASES[code]
    (tmp_path / "0003_theme.down.sql").write_text("ALTER TABLE users DROP COLUMN theme;")
    assert code in findings(tmp_path, bad, bad_name), f"{code} misses its failing example"
    assert code not in findings(tmp_path, good, good_name), f"{code} flags its passing example"


@pytest.mark.parametrize(
    ("bad", "good", "code"),
    [
        ("seed000_dont.sql", "seed000_do.sql", "ISL100"),
        ("seed002_bad.sql", "seed002_good.sql", "ISL100"),
        ("seed002_dont.prisma", "seed002_do.prisma", "ISL100"),
        ("seed002_migration_step5.sql", "seed002_migration_step1.sql", "ISL402"),
        ("seed002_migration_step4.sql", "seed002_migration_step2.sql", "ISL402"),
    ],
)
def test_the_seeds_dont_examples_are_flagged_and_their_do_examples_pass(bad: str, good: str, code: str) -> None:
    def codes(name: str) -> list[str]:
        project = engine.read_files([FIXTURES / name], service="project", config=LintConfig())
        return [f.code for f in engine.lint(project, LintConfig())]

    flagged = codes(bad)
    assert code in flagged
    assert code not in codes(good)
    if bad == "seed000_dont.sql":
        assert flagged.count("ISL100") == 2, "both cross-domain foreign keys"


def test_the_seeds_schemas_read_whole(tmp_path: Path) -> None:
    project = engine.read_files(sorted(FIXTURES.glob("seed001_*.sql")), service=None, config=LintConfig())
    assert {t.name for t in project.tables} >= {"users", "roles", "sessions", "companies", "departments", "employees"}
    codes = {(f.code, f.message.split()[2]) for f in engine.lint(project, LintConfig()) if f.code == "ISL302"}
    assert ("ISL302", "employees.department_id") in codes, "seed 001 leaves department_id unindexed"


def test_suppressions_need_a_reason(tmp_path: Path) -> None:
    base = "CREATE TABLE users (\n  id UUID PRIMARY KEY,\n  {comment}\n  metadata JSONB\n);"
    kept = findings(tmp_path, base.format(comment="-- isles: ignore[ISL305] flexible settings, never queried"))
    assert "ISL305" not in kept
    bare = findings(tmp_path, base.format(comment="-- isles: ignore[ISL305]"))
    assert "ISL001" in bare
    assert "ISL305" in bare


def test_the_config_selects_ignores_and_sets_severities(tmp_path: Path) -> None:
    (tmp_path / "isles-lint.toml").write_text('ignore = ["ISL303"]\n[severity]\nISL305 = "error"\n')
    config = load(tmp_path / "isles-lint.toml")
    path = tmp_path / "a.sql"
    path.write_text("CREATE TABLE users (id UUID PRIMARY KEY, metadata JSONB);")
    found = engine.lint(engine.read_files([path], service="users", config=config), config)
    assert {f.code: f.severity for f in found} == {"ISL305": "error"}
    assert engine.exit_code(found) == 1
    (tmp_path / "bad.toml").write_text('[severity]\nISL305 = "fatal"\n')
    with pytest.raises(LintInputError, match=r"severity\.ISL305"):
        load(tmp_path / "bad.toml")


def test_a_service_map_makes_an_fk_cross_service(tmp_path: Path) -> None:
    config = LintConfig(services={"users": ["users"], "notifications": ["notifications"]})
    text = "CREATE TABLE notifications (id UUID PRIMARY KEY, user_id UUID REFERENCES users(id));"
    assert "ISL100" in findings(tmp_path, text, service="notifications", config=config)
    own = (
        "CREATE TABLE users (id UUID PRIMARY KEY);"
        " CREATE TABLE sessions (id UUID PRIMARY KEY, user_id UUID REFERENCES users(id));"
    )
    assert "ISL100" not in findings(tmp_path, own, service="users")


def test_a_prisma_relation_to_a_model_another_service_owns(tmp_path: Path) -> None:
    schema = (
        'model User {\n  id String @id @db.Uuid\n\n  @@map("users")\n}\n\n'
        'model Notification {\n  id     String @id @db.Uuid\n  userId String @map("user_id") @db.Uuid\n'
        '  user   User   @relation(fields: [userId], references: [id])\n\n  @@map("notifications")\n}\n'
    )
    split = LintConfig(services={"users": ["users"], "notifications": ["notifications"]})
    assert "ISL100" in findings(tmp_path, schema, "schema.prisma", service="notifications", config=split)
    assert "ISL100" not in findings(tmp_path, schema, "schema.prisma", service="notifications")
    monolith = (
        "CREATE TABLE users (id UUID PRIMARY KEY);\n"
        "CREATE TABLE notifications (id UUID PRIMARY KEY, user_id UUID REFERENCES users(id));\n"
    )
    assert "ISL100" in findings(tmp_path, monolith, "monolith.sql", service="notifications", config=split)
    assert "ISL100" not in findings(tmp_path, monolith, "monolith.sql", service="notifications")


def test_foreign_keys_added_by_alter_table_are_checked_too(tmp_path: Path) -> None:
    text = (
        "ALTER TABLE notifications ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES auth.users(id);\n"
        "ALTER TABLE notifications ADD COLUMN template_id UUID REFERENCES templates.templates(id);\n"
        "ALTER TABLE notifications ADD CONSTRAINT fk_batch FOREIGN KEY (batch_id) REFERENCES notifications(id);\n"
    )
    found = findings(tmp_path, text, "0004_links.sql", service="notifications")
    assert found.count("ISL100") == 2, "two other services' tables; the own table is fine"


def test_alembic_migrations_are_read_from_their_source(tmp_path: Path) -> None:
    path = tmp_path / "0009_change.py"
    path.write_text(
        '"""change"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        "def upgrade() -> None:\n"
        '    op.create_table("badges", sa.Column("id", sa.Uuid(), primary_key=True))\n'
        '    op.create_index("idx_badges_id", "badges", ["id"])\n'
        '    op.create_index("idx_users_email", "users", ["email"])\n'
        '    with op.batch_alter_table("users") as batch:\n'
        '        batch.drop_column("nickname")\n'
        '        batch.add_column(sa.Column("tier", sa.Integer(), nullable=False))\n'
        '    op.alter_column("users", "email", type_=sa.Text())\n'
        '    op.execute("ALTER TABLE users RENAME COLUMN name TO full_name")\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    project = Project()
    read_migration(path, "users", project, tmp_path)
    found = engine.lint(project, LintConfig())
    messages = {(f.code, f.message) for f in found}
    assert ("ISL401", "migration 0009_change.py has a downgrade that does nothing") in messages
    assert sum(1 for f in found if f.code == "ISL402") == 4, messages  # drop, NOT NULL, type, rename
    assert [f.message for f in found if f.code == "ISL403"] == [
        "index idx_users_email on existing table users built without CONCURRENTLY"
    ], "the new table's index is fine"


def test_the_five_formats(tmp_path: Path) -> None:
    path = tmp_path / "a.sql"
    path.write_text("CREATE TABLE users (id SERIAL PRIMARY KEY, metadata JSONB);")
    found = engine.lint(engine.read_files([path], service="users", config=LintConfig()), LintConfig())
    text = report.render(found, "text", files=1)
    assert f"{path}:1:21: ISL301 [error]" in text
    data = json.loads(report.render(found, "json", files=1))
    assert {f["code"] for f in data["findings"]} == {f.code for f in found}
    log = json.loads(report.render(found, "sarif", files=1))
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    assert len(results) == len(found)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    github = report.render(found, "github", files=1)
    assert f"::error file={path},line=1,col=21,title=ISL301 uuid-primary-key::" in github
    review = report.render(found, "markdown", files=1)
    assert "## Database Lead Review" in review
    assert "- [x] Requires changes" in review
    assert "### Required Changes\n1. " in review


def test_the_command_exit_codes(tmp_path: Path) -> None:
    clean = tmp_path / "clean.sql"
    clean.write_text(GOOD_TABLE)
    assert subprocess.run([*ISLES, "lint", str(clean), "-s", "users"], capture_output=True).returncode == 0
    dirty = tmp_path / "dirty.sql"
    dirty.write_text("CREATE TABLE users (id SERIAL PRIMARY KEY);")
    run = subprocess.run([*ISLES, "lint", str(dirty), "-f", "json"], capture_output=True, text=True)
    assert run.returncode == 1
    assert json.loads(run.stdout)["findings"]
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE users (id UUID,, x);")
    run = subprocess.run([*ISLES, "lint", str(broken)], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f'error: {broken}:1:29: not valid SQL: syntax error at or near ","']
    assert "Traceback" not in run.stderr


def test_the_systems_own_services_pass() -> None:
    run = subprocess.run([*ISLES, "lint"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "error" not in run.stdout.splitlines()[-1], run.stdout


def test_the_system_named_before_the_command_is_the_one_linted() -> None:
    """`isles --system shop lint` reviews the shop's services, not the default (HR) system."""
    shop = subprocess.run([*ISLES, "--system", "shop", "lint", "-f", "json"], capture_output=True, text=True)
    hrms = subprocess.run([*ISLES, "lint", "-f", "json"], capture_output=True, text=True)
    assert shop.returncode == 0, shop.stdout + shop.stderr
    shop_report, hrms_report = json.loads(shop.stdout), json.loads(hrms.stdout)
    assert not any("hrms" in f["file"] for f in shop_report["findings"]), shop_report["findings"][:3]
    assert shop_report["files"] < hrms_report["files"]


def test_prisma_suppressions_and_the_standalone_command(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(
        "// isles: ignore[ISL203] the legacy model keeps its name until the 2027 cleanup\n"
        "model Users {\n  id String @id @db.Uuid\n}\n"
    )
    run = subprocess.run(
        [str(Path(sys.executable).parent / "isles-lint"), str(schema), "-s", "users", "-f", "json"],
        capture_output=True,
        text=True,
    )
    codes = [f["code"] for f in json.loads(run.stdout)["findings"]]
    assert codes == ["ISL303"], "both ISL203 findings (plural, no @@map) are suppressed; timestamps still missing"
    assert run.returncode == 0, "a warning does not fail"
    schema.write_text(schema.read_text().replace(" the legacy model keeps its name until the 2027 cleanup", ""))
    run = subprocess.run([str(Path(sys.executable).parent / "isles-lint"), str(schema)], capture_output=True, text=True)
    assert "ISL001" in run.stdout
    assert run.returncode == 1


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_live_database_is_introspected(tmp_path: Path, backend: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from isles.lint.live import read_database
    from tests.support import PG_SERVER, drop_in_background, require_postgres

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    else:
        require_postgres()
        url = f"{PG_SERVER}/isles_lint_{uuid.uuid4().hex[:10]}"

    async def build() -> None:
        if backend == "postgres":
            from sqlalchemy.engine import make_url

            admin = create_async_engine(str(make_url(url).set(database="postgres")), isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'CREATE DATABASE "{make_url(url).database}"')
            await admin.dispose()
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TABLE users (id UUID PRIMARY KEY, created_at TIMESTAMP, updated_at TIMESTAMP)"
            )
            await conn.exec_driver_sql(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id UUID REFERENCES users(id), "
                "created_at TIMESTAMP, updated_at TIMESTAMP)"
            )
        await engine.dispose()

    asyncio.run(build())
    try:
        project = Project()
        read_database(url, "shop", project)
        found = {(f.code, f.message) for f in engine.lint(project, LintConfig())}
        assert ("ISL301", "orders.id is the key but integer, not uuid") in found
        assert ("ISL302", "reference column orders.user_id is not indexed") in found
        assert not any(m.startswith("foreign key") for c, m in found), "users is the service's own table"
    finally:
        if backend == "postgres":
            drop_in_background(url)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("schema.prisma", "model User {\n  id String @id\n", "schema.prisma:1:1: model User is not closed with }"),
        ("schema.prisma", "modle User {\n}\n", "schema.prisma:1:1: expected a model, enum, datasource or generator"),
        ("schema.prisma", "model User {\n  = broken\n}\n", "schema.prisma:2:3: cannot read this field"),
        ("isles-lint.toml", "select = 'ISL'\n", "isles-lint.toml: select: must be a list of strings"),
    ],
)
def test_bad_input_is_one_line_saying_what_and_where(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    args = ["--config", str(path), str(tmp_path)] if name.endswith(".toml") else [str(path)]
    run = subprocess.run([*ISLES, "lint", *args], capture_output=True, text=True)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ")
    assert lines[0].endswith(message) or message in lines[0], lines[0]


def test_a_clean_review_is_approved(tmp_path: Path) -> None:
    path = tmp_path / "a.sql"
    path.write_text(GOOD_TABLE)
    found = engine.lint(engine.read_files([path], service="users", config=LintConfig()), LintConfig())
    assert found == []
    review = report.render(found, "markdown", files=1)
    assert "- [x] Approved" in review
    assert "- [x] No cross-database relationships" in review


def _messages(tmp_path: Path, text: str, *, service: str | None = None) -> list[tuple[str, str]]:
    path = tmp_path / "schema.sql"
    path.write_text(text)
    project = engine.read_files([path], service=service, config=LintConfig())
    return [(f.code, f.message) for f in engine.lint(project, LintConfig())]


def test_a_foreign_key_into_another_schema_crosses_a_service_even_in_a_file_of_no_schema(tmp_path: Path) -> None:
    """Seed 000's DON'T example, as written, in a file that names no schema or service
    of its own (issue 18): the target's schema is another service."""
    dont = """
    CREATE TABLE employee_assignments (
      id UUID PRIMARY KEY,
      employee_id UUID NOT NULL,
      project_id UUID REFERENCES projects.projects(id)
    );
    """
    found = _messages(tmp_path, dont)
    assert any(code == "ISL100" and "projects.projects" in msg for code, msg in found), found
    same = "CREATE TABLE a (id UUID PRIMARY KEY); CREATE TABLE bs (id UUID PRIMARY KEY, a_id UUID REFERENCES a(id));"
    assert "ISL100" not in [code for code, _ in _messages(tmp_path, same)]
    public = same.replace("REFERENCES a(id)", "REFERENCES public.a(id)")
    assert "ISL100" not in [code for code, _ in _messages(tmp_path, public)], "public is the file's own schema"


def test_an_unquoted_camel_case_column_is_flagged_with_the_name_postgresql_gives_it(tmp_path: Path) -> None:
    """PostgreSQL folds ``projectName`` to ``projectname``; the reviewer reads what was
    written (issue 18)."""
    found = _messages(tmp_path, "CREATE TABLE projects (id UUID PRIMARY KEY, projectName VARCHAR(100));")
    [(_code, message)] = [f for f in found if f[0] == "ISL202"]
    assert "projectName" in message
    assert "projectname" in message
    folded_ok = _messages(tmp_path, "CREATE TABLE projects (id UUID PRIMARY KEY, project_name VARCHAR(100));")
    assert "ISL202" not in [code for code, _ in folded_ok]
    assert "ISL201" in [c for c, _ in _messages(tmp_path, "CREATE TABLE userAccounts (id UUID PRIMARY KEY);")]


def test_ref_columns_are_references_indexed_and_without_a_foreign_key(tmp_path: Path) -> None:
    """ADR-0005 (seed 003) names references to other services' entities ``*_ref``."""
    unindexed = "CREATE TABLE orders (id UUID PRIMARY KEY, user_id_ref UUID NOT NULL);"
    assert any(c == "ISL302" and "user_id_ref" in m for c, m in _messages(tmp_path, unindexed))
    indexed = unindexed + " CREATE INDEX idx_orders_user_id_ref ON orders(user_id_ref);"
    assert "ISL302" not in [c for c, _ in _messages(tmp_path, indexed)]
    with_fk = (
        "CREATE TABLE users (id UUID PRIMARY KEY);"
        " CREATE TABLE orders (id UUID PRIMARY KEY, user_id_ref UUID NOT NULL REFERENCES users(id));"
        " CREATE INDEX idx_orders_user_id_ref ON orders(user_id_ref);"
    )
    found = _messages(tmp_path, with_fk)
    assert any(c == "ISL100" and "user_id_ref" in m and "reference" in m for c, m in found), found


def test_a_unique_partial_index_may_be_named_like_a_unique_constraint(tmp_path: Path) -> None:
    """Unique among the live rows (a soft delete): ``uq_<table>_...``, as the unique
    constraint it stands for; a plain index so named is still flagged."""
    table = "CREATE TABLE departments (id UUID PRIMARY KEY, name TEXT, deleted_at TIMESTAMP);"
    unique = table + " CREATE UNIQUE INDEX uq_departments_name ON departments(name) WHERE deleted_at IS NULL;"
    assert "ISL204" not in [c for c, _ in _messages(tmp_path, unique)]
    plain = table + " CREATE INDEX uq_departments_name ON departments(name);"
    assert "ISL204" in [c for c, _ in _messages(tmp_path, plain)]
