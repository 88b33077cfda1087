"""kb replicas behind HAProxy (and Redis) on 127.0.0.1, for the scale-out test and `kb bench`.

The HAProxy configuration is deploy/haproxy.cfg itself, with the replica addresses of this
machine in place of its DNS-discovered ones, so what runs here is what ships. Every process
started here is stopped by ``Cluster.stop`` (also on failure: use it as a context manager);
every wait is bounded.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import httpx

from ports import free_port

REPO = Path(__file__).resolve().parents[1]
HAPROXY_CFG = REPO / "deploy" / "haproxy.cfg"
# Debian puts haproxy in /usr/sbin, which a non-root PATH may lack.
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout_s: float, interval_s: float = 0.1) -> T:
    """Poll ``condition`` until it returns something true; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)  # the poll's pace; the condition is what is waited for


def local_haproxy_config(servers: dict[str, int], extra_backend: list[str] = ()) -> str:
    """deploy/haproxy.cfg with ``server <name> 127.0.0.1:<port> check`` lines for ``servers``."""
    text = HAPROXY_CFG.read_text(encoding="utf-8")
    lines = [f"    server {name} 127.0.0.1:{port} check" for name, port in servers.items()]
    lines += [f"    {line}" for line in extra_backend]
    text, found = re.subn(r"^\s*server-template .*$", "\n".join(lines), text, count=1, flags=re.M)
    assert found == 1, "deploy/haproxy.cfg has no server-template line to replace"
    return re.sub(r"^resolvers dns\n(?:[ \t].*\n?|\n)*", "", text, flags=re.M)  # no DNS here


def haproxy_states(stats_port: int) -> dict[str, str]:
    """The ``kb`` backend's servers and their state (UP, DOWN, …), from HAProxy's stats CSV."""
    try:
        text = httpx.get(f"http://127.0.0.1:{stats_port}/stats;csv", timeout=5.0).text
    except httpx.HTTPError:
        return {}
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {row["svname"]: row["status"] for row in rows
            if row["pxname"] == "kb" and row["svname"] not in ("FRONTEND", "BACKEND")}


def wait_servers_up(stats_port: int, names: list[str], timeout_s: float) -> None:
    wait_until(lambda: all(haproxy_states(stats_port).get(n, "").startswith("UP") for n in names),
               f"HAProxy to see {', '.join(names)} UP", timeout_s)


def haproxy(work: Path, name: str, servers: dict[str, int], extra_backend: list[str] = ()) -> tuple["Process", int, int]:
    """An HAProxy process (not started) in front of ``servers``: (process, port, stats port)."""
    port, stats_port = free_port(), free_port()
    config = (work / f"{name}.cfg").resolve()
    config.write_text(local_haproxy_config(servers, list(extra_backend)), encoding="utf-8")
    env = {**os.environ, "KB_LB_BIND": f"127.0.0.1:{port}", "KB_LB_STATS_BIND": f"127.0.0.1:{stats_port}"}
    return Process(name, [HAPROXY, "-db", "-f", str(config)], env, work / f"{name}.log"), port, stats_port


class Process:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(self.cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


class Replica(Process):
    """``kb serve --workers 1`` on its own port."""

    def __init__(self, name: str, port: int, env: dict[str, str], log_dir: Path) -> None:
        cmd = [sys.executable, "-m", "kb_service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]
        super().__init__(name, cmd, env, log_dir / f"{name}.log")
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def readyz(self) -> dict | None:
        try:
            response = httpx.get(self.url + "/readyz", timeout=5.0)
        except httpx.HTTPError:
            return None
        return {"http_status": response.status_code, **response.json()}

    def wait_ready(self, timeout_s: float = 180.0) -> dict:
        def ready() -> dict | None:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            state = self.readyz()
            return state if state and state["http_status"] == 200 else None

        return wait_until(ready, f"{self.name} to be ready", timeout_s)


class Cluster:
    """Replicas, HAProxy in front (deploy/haproxy.cfg) and, optionally, Redis."""

    def __init__(self, work: Path, replica_env: dict[str, str], replicas: int, redis: bool = False,
                 extra_backend: list[str] = ()) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.replica_env = dict(replica_env)
        self.redis: Process | None = None
        if redis:
            port = free_port()
            self.redis = Process("redis", [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                           "--appendonly", "no"], dict(os.environ), work / "redis.log")
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            self.replica_env["KB_REDIS_URL"] = self.redis_url
        self.replicas = {f"r{i + 1}": Replica(f"r{i + 1}", free_port(), self.replica_env, work)
                         for i in range(replicas)}
        self.haproxy, self.lb_port, self.stats_port = haproxy(
            work, "haproxy", {n: r.port for n, r in self.replicas.items()}, extra_backend)
        self.url = f"http://127.0.0.1:{self.lb_port}"

    def __enter__(self) -> "Cluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout_s: float = 240.0) -> None:
        if self.redis is not None:
            self.redis.start()
            wait_until(self._redis_answers, "redis-server to answer", 30)
        for replica in self.replicas.values():
            replica.start()
        self.haproxy.start()
        for replica in self.replicas.values():
            replica.wait_ready(timeout_s)
        self.wait_servers_up(list(self.replicas), 60)

    def stop(self) -> None:
        for process in [self.haproxy, *self.replicas.values(), *([self.redis] if self.redis else [])]:
            process.stop(signal.SIGINT if process in self.replicas.values() else signal.SIGTERM)

    def _redis_answers(self) -> bool:
        host, port = "127.0.0.1", int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        try:
            with socket.create_connection((host, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    # ---- HAProxy's view -----------------------------------------------------------------

    def server_states(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it (UP, DOWN, …), from its stats CSV."""
        return haproxy_states(self.stats_port)

    def wait_servers_up(self, names: list[str], timeout_s: float) -> None:
        wait_servers_up(self.stats_port, names, timeout_s)

    def restart(self, name: str) -> Replica:
        old = self.replicas[name]
        old.stop(signal.SIGKILL, 10)
        replica = Replica(name, old.port, self.replica_env, self.work)
        self.replicas[name] = replica
        return replica.start()
