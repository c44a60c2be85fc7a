"""Shared by the benchmarks: a fresh database, the real server in a subprocess, tokens, HTTP.

Benchmarks drive the service as a user does: `metering serve` in its own process (so its peak
RSS can be read from /proc), an access token from `metering token create`, and plain HTTP.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("METERING_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
KINDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class Database:
    """One benchmark's own database: a SQLite file, or a fresh PostgreSQL schema."""

    kind: str
    url: str
    schema: str | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "METERING_DATABASE_URL": self.url}
        env.pop("METERING_DATABASE_SCHEMA", None)
        if self.schema:
            env["METERING_DATABASE_SCHEMA"] = self.schema
        return env

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one read-only statement on the read models (table names unqualified)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=60) as conn:
                return list(conn.execute(sql))
        with psycopg.connect(self.url, options=f"-csearch_path={self.schema}") as conn:
            return list(conn.execute(sql))  # type: ignore[call-overload]

    def projection_positions(self) -> dict[str, int]:
        return {name: int(position) for name, position in
                self.query("SELECT name, position FROM projection_positions")}


def machine_line() -> str:
    """The machine's speed now: milliseconds a fixed pure-Python loop takes (best of 5). This
    VM's speed has varied threefold from one day to the next (the same code, the same figures
    otherwise): compare figures of runs whose reference differs scaled by it."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        table: dict[int, int] = {}
        for i in range(1_000_000):
            table[i & 1023] = table.get(i & 1023, 0) + i
        best = min(best, time.perf_counter() - started)
    return f"machine: reference loop {best * 1000:.0f} ms (lower is faster)"


def kinds(choice: str) -> tuple[str, ...]:
    """`sqlite`, `postgres` or `both` (the --database argument)."""
    return KINDS if choice == "both" else (choice,)


@contextmanager
def fresh_database(kind: str) -> Iterator[Database]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="metering-bench-") as folder:
            yield Database(kind, f"sqlite:///{folder}/ledger.db")
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    try:
        yield Database(kind, POSTGRES_URL, schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def metering(database: Database, *args: str) -> str:
    """Run the `metering` CLI on the database; return its stdout."""
    done = subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=database.env(),
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def create_token(database: Database, organization: str = "bench") -> str:
    return metering(database, "token", "create", "--organization", organization)


@dataclass
class Process:
    """A `metering` command running in its own process, its output kept in a log file."""

    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        """The end of the process's output (its errors), for a failure report."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The process and its descendants (uvicorn's worker processes, for instance)."""
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                queue.extend(int(child) for child in task.read_text().split())
        return found

    @staticmethod
    def _status(pid: int, key: str) -> int:
        """A memory figure of one process from /proc, in bytes."""
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
        return 0

    def rss(self) -> int:
        return sum(self._status(pid, "VmRSS") for pid in self.pids())

    def peak_rss(self) -> int:
        """The high-water marks of the resident sets (`VmHWM`), summed over the processes."""
        return sum(self._status(pid, "VmHWM") for pid in self.pids())

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far by the live processes (all threads)."""
        return sum(_cpu_seconds(pid) for pid in self.pids())


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by one process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time used so far by the PostgreSQL server's processes on this machine (what the
    database does for a client, which the client's own CPU time does not count)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += _cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return total


def cpu_seconds(kind: str, processes: list[Process]) -> tuple[float, float, float]:
    """CPU seconds used so far by the API process (the first of `processes`), the projection
    workers (the others) and, on PostgreSQL, the database server."""
    server, *workers = processes
    return (server.cpu_seconds(), sum(worker.cpu_seconds() for worker in workers),
            postgres_cpu_seconds() if kind == "postgres" else 0.0)


def cpu_since(kind: str, processes: list[Process],
              start: tuple[float, float, float]) -> tuple[float, float, float]:
    """What `cpu_seconds` adds up to since it gave `start`."""
    api, workers, database = cpu_seconds(kind, processes)
    return api - start[0], workers - start[1], database - start[2]


@dataclass
class Server(Process):
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(database: Database, *args: str) -> Iterator[Process]:
    """`metering ARGS...` on the database until the block ends (then SIGTERM)."""
    with tempfile.NamedTemporaryFile(prefix="metering-", suffix=".log") as log:
        process = subprocess.Popen([sys.executable, "-m", "web.cli", *args], cwd=ROOT,
                                   env=database.env(), stdout=log, stderr=log)
        try:
            yield Process(process, Path(log.name))
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serve(database: Database, *extra: str) -> Iterator[Server]:
    """`metering serve` (by default the API and the projection runner in one process)."""
    port = free_port()
    with running(database, "serve", "--port", str(port), "--log-level", "warning",
                 *extra) as process:
        server = Server(process.process, process.log, "127.0.0.1", port)
        _wait_healthy(server)
        yield server


def _wait_healthy(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            msg = f"the server exited with {server.process.returncode}:\n{server.log_tail()}"
            raise RuntimeError(msg)
        try:
            Client(server, "").get("/healthz")
            return
        except OSError:
            time.sleep(0.05)  # waiting for the socket to listen
    msg = "the server did not start"
    raise RuntimeError(msg)


class Client:
    """A keep-alive HTTP/1.1 connection with a bearer token; one per client thread."""

    def __init__(self, server: Server, token: str) -> None:
        self.connection = http.client.HTTPConnection(server.host, server.port, timeout=300)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        self.connection.request(method, path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status >= 300:
            msg = f"{method} {path}: {response.status} {data[:500]!r}"
            raise RuntimeError(msg)
        return json.loads(data)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: bytes) -> Any:
        return self.request("POST", path, body)

    def close(self) -> None:
        self.connection.close()


def mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"
