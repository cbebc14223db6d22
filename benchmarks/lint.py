"""Lint benchmark: ``isles lint`` on a generated schema of 1,000 tables and 2,000
migrations, and Squawk (``squawk-cli``) on the same SQL migrations, in one run.

The generated project has ten services, each a schema file of 100 tables (keys,
references, indexes, timestamps; a few findings planted) and 200 migrations
(``NNNN_*.up.sql`` with their ``.down.sql``): added columns, indexes (some without
CONCURRENTLY), a few drops and renames. Each tool runs as a command, as in CI, best of
``--repeat`` runs; the table ends with the ratio.

    python benchmarks/lint.py                      # 1,000 tables, 2,000 migrations
    python benchmarks/lint.py --tables 100 --migrations 200 --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = 10


def generate(root: Path, tables: int, migrations: int) -> tuple[Path, Path]:
    """Write the project; return (the whole project, the migrations folder)."""
    migration_dir = root / "migrations"
    migration_dir.mkdir(parents=True)
    per_service = max(1, tables // SERVICES)
    names: list[tuple[str, str]] = []
    for s in range(SERVICES):
        service = f"service{s}"
        lines = []
        for t in range(per_service):
            table = f"{service}_items_{t}s"
            names.append((service, table))
            fk = f",\n  parent_id UUID REFERENCES {service}_items_{t - 1}s(id)" if t else ""
            lines.append(
                f"CREATE TABLE {table} (\n  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),\n"
                f"  company_id UUID NOT NULL, -- Reference to company service\n"
                f"  name VARCHAR(100) NOT NULL,\n  metadata JSONB,\n  deleted_at TIMESTAMP,\n"
                f"  created_at TIMESTAMP NOT NULL DEFAULT now(),\n"
                f"  updated_at TIMESTAMP NOT NULL DEFAULT now(){fk}\n);\n"
                f"CREATE INDEX idx_{table}_company_id ON {table}(company_id);\n"
                + (f"CREATE INDEX idx_{table}_parent_id ON {table}(parent_id);\n" if t else "")
                + (f"CREATE INDEX idx_{table}_deleted_at ON {table}(deleted_at);\n" if t % 7 else "")
            )
        folder = root / service
        folder.mkdir()
        (folder / "schema.sql").write_text("\n".join(lines))
    for m in range(migrations):
        _service, table = names[m % len(names)]
        kind = m % 10
        if kind == 0:
            up, down = f"ALTER TABLE {table} DROP COLUMN name;", f"ALTER TABLE {table} ADD COLUMN name VARCHAR(100);"
        elif kind in (1, 2, 3):
            up = f"CREATE INDEX CONCURRENTLY idx_{table}_name_{m} ON {table}(name);"
            down = f"DROP INDEX CONCURRENTLY idx_{table}_name_{m};"
        elif kind == 4:
            up, down = (
                f"CREATE INDEX idx_{table}_created_at_{m} ON {table}(created_at);",
                f"DROP INDEX idx_{table}_created_at_{m};",
            )
        elif kind == 5:
            up = f"ALTER TABLE {table} RENAME COLUMN name TO title;"
            down = f"ALTER TABLE {table} RENAME COLUMN title TO name;"
        else:
            up = f"ALTER TABLE {table} ADD COLUMN note_{m} TEXT;"
            down = f"ALTER TABLE {table} DROP COLUMN note_{m};"
        stem = f"{m:05d}_change_{kind}"
        (migration_dir / f"{stem}.up.sql").write_text(up + "\n")
        (migration_dir / f"{stem}.down.sql").write_text(down + "\n")
    return root, migration_dir


def best(command: list[str], repeat: int) -> tuple[float, int, str]:
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
    assert result is not None
    if result.returncode not in (0, 1):
        raise SystemExit(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[:500]}")
    return min(times), result.returncode, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--migrations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    isles = [str(bin_dir / "isles")] if (bin_dir / "isles").exists() else [sys.executable, "-m", "isles.cli"]
    squawk = shutil.which("squawk", path=str(bin_dir)) or shutil.which("squawk")
    with tempfile.TemporaryDirectory() as tmp:
        project, migration_dir = generate(Path(tmp), args.tables, args.migrations)
        ups = sorted(str(p) for p in migration_dir.glob("*.up.sql"))
        rows = []
        whole, _code, out = best([*isles, "lint", str(project), "--format", "json"], args.repeat)
        both = f"{args.tables} tables ({SERVICES} files) + {args.migrations} migrations"
        rows.append(("isles lint", both, whole, out.count('"code"')))
        mine, _code, out = best([*isles, "lint", str(migration_dir), "--format", "json"], args.repeat)
        rows.append(("isles lint", f"{args.migrations} migrations", mine, out.count('"code"')))
        theirs = None
        if squawk:
            theirs, _code, out = best([squawk, "--reporter", "json", *ups], args.repeat)
            rows.append(("squawk", f"{args.migrations} migrations (the same)", theirs, out.count('"rule_name"')))
    print(f"{'tool':<12} {'input':<48} {'seconds':>9} {'findings':>9}")
    for name, what, seconds, count in rows:
        print(f"{name:<12} {what:<48} {seconds:>9.3f} {count:>9}")
    if theirs:
        print(f"ratio isles lint / squawk on the same {args.migrations} migrations: {mine / theirs:.2f}x the time")
    else:
        print("squawk not found (pip install squawk-cli): no comparison")


if __name__ == "__main__":
    main()
