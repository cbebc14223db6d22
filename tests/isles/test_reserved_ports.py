"""``isles up --distributed`` holds each service's port from the moment it picks it
until it stops: the service process starts (imports, migrations' check, keys) for
seconds before it binds, and is restarted on the same port after a crash. Before,
the port was only tested free, then left open: under the full suite a CI run's auth
service found its port taken (``uvicorn`` exit 3, then ``port ... is in use`` at
every restart). The held socket is bound with ``SO_REUSEPORT`` and not listening:
any other server is refused the port, an outgoing connection is never given it, a
connection to it is refused while the service is down (no queue in a backlog), and
``isles serve --reuse-port`` (what the supervisor runs) binds beside it."""

from __future__ import annotations

import socket

import pytest

from isles.runtime.distributed import _reserve_ports


def _listen_as_a_server(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        s.bind(("127.0.0.1", port))
        s.listen()


def test_a_held_port_is_refused_to_other_servers_and_to_outgoing_connections() -> None:
    held = _reserve_ports("127.0.0.1", 20000, 3)
    try:
        ports = [int(h.getsockname()[1]) for h in held]
        assert len(ports) == 3
        assert ports == sorted(set(ports))
        for port in ports:
            with pytest.raises(OSError, match="in use"):
                _listen_as_a_server(port)
            with socket.socket() as plain, pytest.raises(OSError, match="in use"):
                plain.bind(("127.0.0.1", port))
            with socket.socket() as nobody, pytest.raises(ConnectionRefusedError):
                nobody.connect(("127.0.0.1", port))  # nothing listens: refused at once, not queued
    finally:
        for h in held:
            h.close()
    _listen_as_a_server(ports[0])  # given back when the run ends


def test_the_service_binds_beside_the_held_socket_and_serves() -> None:
    [held] = _reserve_ports("127.0.0.1", 20100, 1)
    port = int(held.getsockname()[1])
    try:
        for _ in range(2):  # a first start, then a restart on the same port
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as service:
                service.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                service.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # isles serve --reuse-port
                service.bind(("127.0.0.1", port))
                service.listen()
                with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                    accepted, _ = service.accept()
                    client.sendall(b"ping")
                    assert accepted.recv(4) == b"ping"
                    accepted.close()
    finally:
        held.close()


def test_a_port_in_use_is_skipped() -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        held = _reserve_ports("127.0.0.1", busy, 2)
        try:
            ports = [int(h.getsockname()[1]) for h in held]
            assert busy not in ports
            assert len(ports) == 2
            assert ports[0] > busy
        finally:
            for h in held:
                h.close()
