"""TLS in transit (issue 16, finding 5; seed 001 "In Transit: TLS/SSL connections"):
``isles certs`` makes a CA and server certificates; the services connect to a
PostgreSQL cluster and a NATS server that accept TLS only, verifying the chain and
the name; a certificate from another CA is refused."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.core.events import Envelope
from isles.core.settings import IslesSettings, NatsSettings
from isles.messaging.nats_bus import NatsBus
from isles.runtime.system import SystemRuntime
from isles.security.certs import ensure_ca, issue
from isles.storage.db import ServiceDatabase
from isles.tools.backup import Manifest
from tests.isles import toy
from tests.support import NatsServer, TlsPostgres

pytestmark = pytest.mark.integration


def test_isles_certs_makes_a_ca_and_server_pairs(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    args = ["certs", "--dir", str(folder), "--server", "postgres=127.0.0.1,db.internal"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert (folder / "postgres.key").stat().st_mode & 0o077 == 0
    context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    assert context.get_ca_certs(), "ca.pem is a CA certificate"
    ca_before = (folder / "ca.pem").read_bytes()
    again = CliRunner().invoke(app, ["certs", "--dir", str(folder)], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert (folder / "ca.pem").read_bytes() == ca_before, "the CA is kept"
    bad = CliRunner().invoke(app, ["certs", "--dir", str(folder), "--server", "postgres"], env={})
    assert bad.exit_code == 2
    assert "NAME=HOST" in bad.output


async def test_the_system_runs_on_postgresql_over_verified_tls(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    pair = issue(certs, "postgres", ["127.0.0.1", "localhost"])
    with TlsPostgres(pair.cert, pair.key) as pg:
        settings = IslesSettings(
            database_url=f"{pg.url}/hr_{{service}}",
            database_tls_ca=certs / "ca.pem",
            data_dir=tmp_path / "data",
            keys_dir=tmp_path / "keys",
            generate_keys=True,
        )
        runtime = SystemRuntime(build_hrms(), settings, environ={})
        await runtime.start()  # databases made and migrated over TLS
        try:
            async with runtime.client() as api:
                r = await api.post("/api/company/companies", json={"name": "Encrypted in transit"})
                assert r.status_code == 201, r.text
            async with runtime["company"].db.engine.connect() as conn:
                used = await conn.execute(text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
                on, version = used.one()
            assert on is True
            assert version.startswith("TLSv1.")
        finally:
            await runtime.stop()

        # A server certificate from another CA is refused.
        other = tmp_path / "other"
        ensure_ca(other)
        stranger = ServiceDatabase("company", f"{pg.url}/hr_company", settings.but(database_tls_ca=other / "ca.pem"))
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await stranger.ping(timeout=10)
        finally:
            await stranger.dispose()


@pytest.mark.nats
async def test_the_bus_talks_to_nats_over_verified_tls(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    pair = issue(certs, "nats", ["127.0.0.1", "localhost"])
    config = tmp_path / "nats.conf"
    config.write_text(f'tls {{\n  cert_file: "{pair.cert}"\n  key_file: "{pair.key}"\n}}\n')
    with NatsServer(tmp_path / "store", config=config) as server:
        settings = NatsSettings(url=server.url, prefix=f"t{uuid.uuid4().hex[:8]}", tls_ca=certs / "ca.pem")
        bus = NatsBus(settings, {toy.Pinged.event_type: "source"}, max_deliveries=3, name="tls")
        bus.publishes_for("source")
        await asyncio.wait_for(bus.start(), 20)
        try:
            await asyncio.wait_for(bus.wait_ready(10), 20)
            event = Envelope.new(
                toy.Pinged(id=uuid.uuid4(), n=1),
                source="/isles/source",
                aggregate_type="ping",
                aggregate_id=str(uuid.uuid4()),
                aggregate_version=1,
            )
            await asyncio.wait_for(bus.publish(event), 20)
        finally:
            await asyncio.wait_for(bus.stop(), 20)

        # Another CA's certificate: no connection.
        other = tmp_path / "other"
        ensure_ca(other)
        # Tried in a process of its own: nats-py leaves a refused connection's socket
        # open (and its close can hang), which must not leak into this one.
        probe = (
            "import asyncio, ssl, nats\n"
            f"ctx = ssl.create_default_context(cafile={str(other / 'ca.pem')!r})\n"
            "async def main():\n"
            "    async def quiet(exc): pass\n"
            "    try:\n"
            f"        await nats.connect({server.url!r}, tls=ctx, allow_reconnect=False, max_reconnect_attempts=0,"
            " connect_timeout=3, error_cb=quiet)\n"
            "        print('connected')\n"
            "    except Exception as exc:\n"
            "        print(type(exc).__name__)\n"
            "asyncio.run(main())\n"
        )
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
        )
        assert result.stdout.strip() == "SSLCertVerificationError", (result.stdout, result.stderr[-500:])


async def test_a_missing_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    settings = IslesSettings(database_url="postgresql+asyncpg://x@127.0.0.1:1/db", database_tls_ca=tmp_path / "no.pem")
    with pytest.raises(Exception, match=r"no\.pem does not exist"):
        ServiceDatabase("company", "postgresql+asyncpg://x@127.0.0.1:1/db", settings)
    bus = NatsBus(NatsSettings(tls_ca=tmp_path / "no.pem"), {}, max_deliveries=3, name="x")
    with pytest.raises(ValueError, match="ISLES_NATS_TLS_CA"):
        await bus.start()


def test_backup_and_restore_verify_the_servers_certificate(tmp_path: Path) -> None:
    """``isles backup`` / ``restore`` on a TLS-only server with ``ISLES_DATABASE_TLS_CA``:
    the tools (their own connections and pg_dump / pg_restore) verify the server as the
    services do; a server whose certificate another CA signed is refused, one line."""
    certs = tmp_path / "certs"
    pair = issue(certs, "postgres", ["127.0.0.1", "localhost"])
    other = tmp_path / "other"
    ensure_ca(other)
    with TlsPostgres(pair.cert, pair.key) as pg:
        url = f"{pg.url}/bk_{{service}}"
        settings = IslesSettings(database_url=url, database_tls_ca=certs / "ca.pem", data_dir=tmp_path / "data")

        async def fill() -> None:
            runtime = SystemRuntime(toy.build(), settings, environ={})
            await runtime.start()  # the toy's tables, over TLS
            try:
                async with runtime["source"].db.engine.begin() as conn:
                    await conn.execute(text("CREATE TABLE items (id int PRIMARY KEY)"))
                    await conn.execute(text("INSERT INTO items SELECT generate_series(1, 25)"))
            finally:
                await runtime.stop()

        asyncio.run(fill())
        cli = ["--system", "tests.isles.toy:build", "--database-url", url]

        def run(ca: Path, *args: str) -> Any:
            env = {"COLUMNS": "250", "ISLES_DATABASE_TLS_CA": str(ca), "ISLES_DATA_DIR": str(tmp_path / "data")}
            return CliRunner().invoke(app, [*cli, *args], env=env)

        refused = run(other / "ca.pem", "backup", "--to", str(tmp_path / "b"), "-s", "source")
        assert refused.exit_code == 1, refused.output
        assert "certificate verify failed" in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1, refused.output
        assert not list((tmp_path / "b").glob("*/manifest.json")), "no backup from a server not verified"

        done = run(certs / "ca.pem", "backup", "--to", str(tmp_path / "b"), "-s", "source")
        assert done.exit_code == 0, done.output
        [folder] = [p.parent for p in (tmp_path / "b").glob("*/manifest.json")]
        assert Manifest.read(folder)["source"].rows["items"] == 25

        refused = run(other / "ca.pem", "restore", str(folder), "--verify")
        assert refused.exit_code == 1, refused.output
        assert "certificate verify failed" in refused.output, refused.output
        verified = run(certs / "ca.pem", "restore", str(folder), "--verify")
        assert verified.exit_code == 0, verified.output
        into = ["--database-url", f"{pg.url}/again_{{service}}"]
        restored = CliRunner().invoke(
            app,
            ["--system", "tests.isles.toy:build", *into, "restore", str(folder)],
            env={"COLUMNS": "250", "ISLES_DATABASE_TLS_CA": str(certs / "ca.pem")},
        )
        assert restored.exit_code == 0, restored.output
        again = ServiceDatabase("source", f"{pg.url}/again_source", settings)

        async def count() -> int:
            try:
                async with again.engine.connect() as conn:
                    return int((await conn.execute(text("SELECT count(*) FROM items"))).scalar_one())
            finally:
                await again.dispose()

        assert asyncio.run(count()) == 25


def test_provision_and_its_teardown_verify_the_servers_certificate(tmp_path: Path) -> None:
    """``isles db provision`` with ``ISLES_DATABASE_TLS_CA`` verifies a TLS-only server as
    the services do (a server another CA signed: one line, exit 1, no role made), and
    ``drop_roles`` (the teardown) takes the same context."""
    from isles.storage.db import tls_context
    from isles.storage.provision import KINDS, drop_roles, role_name

    certs = tmp_path / "certs"
    pair = issue(certs, "postgres", ["127.0.0.1", "localhost"])
    other = tmp_path / "other"
    ensure_ca(other)
    with TlsPostgres(pair.cert, pair.key) as pg:
        argv = ["--system", "tests.isles.toy:build", "--database-url", f"{pg.url}/pv_{{service}}"]

        def provision(ca: Path) -> Any:
            args = [*argv, "db", "provision", "--secrets-dir", str(tmp_path / "secrets")]
            return CliRunner().invoke(app, args, env={"COLUMNS": "250", "ISLES_DATABASE_TLS_CA": str(ca)})

        verified = tls_context(certs / "ca.pem")
        names = [role_name(f"pv_{service}", kind) for service in ("source", "sink") for kind in KINDS]

        async def roles() -> set[str]:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres", ssl=verified)
            try:
                rows = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE 'pv_%'")
                return {r[0] for r in rows}
            finally:
                await conn.close()

        refused = provision(other / "ca.pem")
        assert refused.exit_code == 1, refused.output
        assert "certificate verify failed" in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1, refused.output
        assert asyncio.run(roles()) == set()

        done = provision(certs / "ca.pem")
        assert done.exit_code == 0, done.output
        assert asyncio.run(roles()) == set(names)

        async def teardown(context: ssl.SSLContext | None) -> None:
            admin = make_url(f"{pg.url}/postgres")
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres", ssl=verified)
            try:
                for service in ("source", "sink"):
                    await conn.execute(f"DROP DATABASE IF EXISTS pv_{service}")
            finally:
                await conn.close()
            for service in ("source", "sink"):
                await drop_roles(admin, f"pv_{service}", ssl=context)

        with pytest.raises(ssl.SSLCertVerificationError):
            asyncio.run(teardown(tls_context(other / "ca.pem")))
        assert asyncio.run(roles()) == set(names)
        asyncio.run(teardown(verified))
        assert asyncio.run(roles()) == set()
