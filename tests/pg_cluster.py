"""A throw-away PostgreSQL cluster for tests: Debian's initdb and pg_ctl, a free port on
127.0.0.1, the unix socket and the data in a temporary folder, stopped at the end.

PostgreSQL refuses to run as root: when the tests run as root (as CI does), the cluster runs
as the ``postgres`` system user over a folder handed to it. ``PgCluster.start`` raises
``PgUnavailable`` with the reason when no cluster can be started here; tests skip with it.
Loaded as a plugin (``pytest_plugins = ["tests.pg_cluster"]``) for one cluster per session.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "scripts"))
from ports import free_port  # noqa: E402

START_TIMEOUT_S = 60


class PgUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if not candidates:
        subprocess.run(["bash", str(PROJECT / "scripts" / "system-deps.sh"), "postgresql"], check=False,
                       capture_output=True, timeout=600)
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if not candidates:
        raise PgUnavailable("PostgreSQL's binaries are not installed (scripts/system-deps.sh postgresql failed)")
    return Path(candidates[-1]).parent


class PgCluster:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="kb-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        role = self.user or os.environ.get("USER") or "postgres"
        return f"postgresql://{role}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def start(self) -> "PgCluster":
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            if shutil.which("runuser") is None:
                raise PgUnavailable("running as root and runuser is missing: cannot start PostgreSQL as postgres")
            try:
                shutil.chown(self.root, self.user, self.user)
                shutil.chown(self.socket_dir, self.user, self.user)
            except (LookupError, PermissionError) as exc:
                raise PgUnavailable(f"cannot hand the cluster folder to the {self.user} user: {exc}") from exc
            os.chmod(self.root, 0o700)
        init = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user or os.environ.get("USER", "postgres"),
                         "--no-sync", "-E", "UTF8")
        if init.returncode != 0:
            raise PgUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        self.resume()
        return self

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                            "-w", "-t", str(START_TIMEOUT_S), "start")
        if started.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-800:] if (self.root / "server.log").exists() else ""
            raise PgUnavailable(f"pg_ctl start failed: {started.stderr.strip()[-300:]} {log}")

    def halt(self) -> None:
        """Stop the server (the data stays): the database goes down under its clients."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        if self.data.exists():
            self.halt()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg() -> "PgCluster":
    """A running throw-away cluster for the session; the tests that use it skip when none can start."""
    try:
        cluster = PgCluster().start()
    except PgUnavailable as exc:
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")
    yield cluster
    cluster.destroy()
