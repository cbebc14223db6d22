"""``isles up --distributed``: the production topology on one machine."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from rich.console import Console
from sqlalchemy.engine import make_url

from isles import console
from isles.console.remote import DistributedConsole
from isles.core.settings import IslesSettings
from isles.http.proxy import create_proxy_gateway
from isles.http.serving import run_server
from isles.ops.supervisor import Child, Supervisor
from isles.runtime.keys import generate_system_keys, keys_dir
from isles.runtime.system import make_bus
from isles.security.tokens import OPERATOR, KeyRing
from isles.service.declaration import System


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _reserve_ports(host: str, first: int, count: int) -> list[socket.socket]:
    """Sockets bound (not listening) to ``count`` free ports from ``first`` up, held for
    the run: while one is held no other process takes its port — not an outgoing
    connection's ephemeral port, not another server — so a service process started
    (or restarted after a crash) seconds later still finds it. Only ``SO_REUSEPORT``
    is set: the service process binds beside it with ``isles serve --reuse-port``; a
    socket without that option (any other server) is refused the port."""
    held: list[socket.socket] = []
    candidate = first
    while len(held) < count and candidate < 65535:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((host, candidate))
            held.append(s)
        except OSError:
            s.close()
        candidate += 1
    return held


async def run_distributed(
    system: System,
    system_spec: str,
    settings: IslesSettings,
    *,
    host: str,
    port: int,
    demo: bool,
    log_level: str,
    log_dir: Path | None,
    out: Console,
) -> str:
    """Run until SIGINT/SIGTERM. Returns an error message, or "" after a clean stop."""
    template = settings.database_url or f"postgresql+asyncpg://postgres@127.0.0.1:5432/{system.name}_{{service}}"
    if not template.startswith("postgresql"):
        return "--distributed runs on PostgreSQL: give --database-url postgresql+asyncpg://.../<name>_{service}"
    pg = make_url(template.replace("{service}", "x"))
    if not _reachable(pg.host or "127.0.0.1", pg.port or 5432):
        return f"PostgreSQL is not reachable at {pg.host}:{pg.port or 5432}"
    nats = make_url(settings.nats.url.split(",")[0].replace("nats://", "nats+x://"))
    if not _reachable(nats.host or "127.0.0.1", nats.port or 4222):
        return f"NATS is not reachable at {settings.nats.url}"
    names = [s.name for s in system.services]
    held = _reserve_ports("127.0.0.1", port + 1, len(names))
    ports = [int(h.getsockname()[1]) for h in held]
    if len(ports) < len(names):
        for h in held:
            h.close()
        return f"not enough free ports above {port}"
    urls = {name: f"http://127.0.0.1:{p}" for name, p in zip(names, ports, strict=True)}
    folder = keys_dir(settings)
    generate_system_keys(system, folder)
    children = []
    for name, p in zip(names, ports, strict=True):
        args = ["serve", name, "--host", "127.0.0.1", "--port", str(p), "--reuse-port", "--bus", "nats"]
        args += ["--database-url", template, "--nats-url", settings.nats.url, "--system", system_spec]
        args += ["--log-level", log_level]
        for other, url in urls.items():
            if other != name:
                args += ["--peer", f"{other}={url}"]
        children.append(
            Child(
                service=name,
                port=p,
                args=args,
                env={
                    "ISLES_LOG_FORMAT": "json",
                    "ISLES_KEYS_DIR": str(folder),
                    "ISLES_PUBLIC_URL": settings.public_url or f"http://127.0.0.1:{port}",
                },
            )
        )
    # The operator console at /console: every service's database read directly (small
    # pools of the gateway's own), NATS for consumer lag, the processes' /health,
    # /ready and /metrics (docs/console.md, "Embedded and distributed").
    remote = DistributedConsole(
        system,
        settings.model_copy(update={"database_url": template}),
        urls,
        keys=folder,
        bus=make_bus(system, settings.model_copy(update={"bus": "nats"}), name=f"{system.name}:console"),
    )
    supervisor = Supervisor(children, log_dir=str(log_dir) if log_dir else None)
    await supervisor.start()
    gateway = create_proxy_gateway(system.name, urls)
    console.install(gateway, remote)
    try:
        await remote.start()
        try:
            await supervisor.wait_ready(timeout=90)
        except TimeoutError as exc:
            return f"{exc}; see the service logs (--log-dir)"
        lines: list[str] = []
        if demo and system.demo is not None:
            transport = httpx.ASGITransport(app=gateway)
            operator = KeyRing.load(folder, signers=[OPERATOR]).signer(OPERATOR, ttl=600)
            token = {"Authorization": f"Bearer {operator.issue(subject='operator', tenant=None)}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", timeout=30, headers=token
            ) as client:
                lines = await system.demo(client)
        base = f"http://{host}:{port}"
        out.print(
            f"[bold]{system.name}[/bold] is up, distributed: one process per service, PostgreSQL, NATS JetStream."
        )
        out.print(f"  gateway   {base}/   health {base}/health   ready {base}/ready")
        out.print(f"  console   {base}/console/   (sign in with: isles token)")
        for child in children:
            db = make_url(template.replace("{service}", child.service)).render_as_string(hide_password=True)
            out.print(
                f"  {child.service:<9} {child.url}  docs {base}/api/{child.service}/docs  metrics {child.url}/metrics"
            )
            out.print(f"            db {db}")
        for line in lines:
            out.print(f"  {line}")
        out.print("Press Ctrl+C to stop.")
        await run_server(gateway, host=host, port=port, log_level=log_level)
    finally:
        await remote.close()  # the console's sampler, then its bus and engines
        await gateway.state.client.aclose()
        await supervisor.stop()
        for h in held:
            h.close()
    return ""
