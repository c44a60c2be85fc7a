"""A real uvicorn server in a thread, driven with Polar's official SDK."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from polar.v2026_10.client import Polar

from web.app import create_app
from web.bootstrap import Services
from web.config import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_url(settings: Settings, services: Services) -> Iterator[str]:
    services.runner.start()
    port = _free_port()
    config = uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            msg = "uvicorn did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)  # waiting for a server socket, not for the ledger
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def polar(server_url: str, token: str) -> Iterator[Polar]:
    with Polar(access_token=token, base_url=server_url, timeout=30) as client:
        yield client
