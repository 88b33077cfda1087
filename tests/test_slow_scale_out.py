"""Slow: three kb replicas behind HAProxy (deploy/haproxy.cfg) with Redis, on 127.0.0.1,
under a steady load of distinct questions sent through HAProxy:

(a) ``kill -9`` of a replica fails no client request (HAProxy retries on the others); the
    test restarts it and HAProxy puts it back in rotation once /readyz answers 200;
(b) ``kb publish`` of a new build: every replica switches by itself (KB_POLL_S), no
    request fails, and every request sent after the switch is answered from the new build;
(c) a rate limit of N a minute for one client holds across the replicas (Redis): N
    answered, the rest 429;
(d) a corrupt build made current is refused by every replica, which keep serving the old one;
(e) SIGTERM drains a replica: /readyz 503 first, no request fails, exit code 0.

Nothing is faked. The load's requests each carry their own client address
(X-Forwarded-For, as many users behind HAProxy would), so only (c)'s client meets the
limit. The replicas serve one copy of the session's index (no re-embedding).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kb_service.store.publish import copy_build, set_current

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import rebuild  # noqa: E402
from .conftest import DEV_SET

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from local_cluster import Cluster, wait_until  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.slow

RATE_LIMIT = 20  # per minute per client, in every replica's settings
SWITCH_TIMEOUT_S = 60.0
MAX_LOAD_REQUESTS = 50_000  # a bound, never reached in the test's time


@dataclass
class Outcome:
    started: float
    status: int | None
    build: str | None
    error: str | None
    at: str = ""  # wall-clock start, to find the request in the HAProxy and replica logs


class Load:
    """``clients`` threads sending distinct questions through HAProxy until stopped."""

    def __init__(self, url: str, clients: int = 3) -> None:
        self.url = url
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._counter = itertools.count()
        questions = [json.loads(line)["question"] for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
        self._questions = questions
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            while not self._stop.is_set():
                n = next(self._counter)
                if n >= MAX_LOAD_REQUESTS:
                    return
                # A question never asked before (no embedding cache hit) from a client address
                # of its own (no rate limit shared with another request).
                question = f"{self._questions[n % len(self._questions)]} (case {n})"
                headers = {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
                started, at = time.monotonic(), time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
                try:
                    response = client.post("/v1/ask", json={"question": question}, headers=headers)
                    build = response.json().get("index_build") if response.status_code == 200 else None
                    self.outcomes.append(Outcome(started, response.status_code, build,
                                                 None if response.status_code == 200 else response.text[:300], at))
                except httpx.HTTPError as exc:
                    self.outcomes.append(Outcome(started, None, None, f"{type(exc).__name__}: {exc}", at))

    def failures(self) -> list[Outcome]:
        return [o for o in list(self.outcomes) if o.status != 200]

    def answered(self) -> int:
        return sum(1 for o in list(self.outcomes) if o.status == 200)

    def wait_answers(self, more: int, timeout_s: float = 60.0) -> None:
        target = self.answered() + more
        wait_until(lambda: self.answered() >= target, f"{more} more answers through HAProxy", timeout_s)


def kb_publish(source: Path, shared: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_") or k == "KB_CACHE_DIR"}
    return subprocess.run([sys.executable, "-m", "kb_service.cli", "publish", str(source), "--to", str(shared),
                           "--questions", str(DEV_SET)], cwd=REPO, capture_output=True, text=True,
                          env={**env, "HF_HUB_OFFLINE": "1"}, timeout=300)


def another_build(source: Path, scratch: Path) -> Path:
    """A new real build of the same chunks and vectors (write_index, no embedding)."""
    return rebuild(source, scratch)


def answered_by(cluster: Cluster, name: str) -> float:
    text = httpx.get(cluster.replicas[name].url + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith('kb_requests_total{') and 'route="/v1/ask"' in line and 'status="200"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def cluster(api_index: Path, tmp_path_factory):
    deps = subprocess.run(["bash", str(REPO / "scripts/system-deps.sh"), "haproxy", "redis-server"],
                          capture_output=True, text=True, timeout=900)
    if deps.returncode != 0:
        pytest.skip(f"haproxy and redis-server cannot be installed here: {deps.stderr.strip()[-300:]}")
    work = tmp_path_factory.mktemp("scale-out")
    shared = work / "shared"
    first = kb_publish(api_index, shared)
    assert first.returncode == 0, first.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_") or k == "KB_CACHE_DIR"}
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "KB_INDEX": str(shared),
                "KB_POLL_S": "0.5", "KB_DRAIN_S": "2", "KB_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
                "KB_TRUSTED_PROXIES": "127.0.0.1"})  # HAProxy: its X-Forwarded-For names the client
    # Which replica answered, for (c): a header HAProxy adds here only (not in deploy/).
    with Cluster(work, env, replicas=3, redis=True,
                 extra_backend=["http-response set-header X-Served-By %[srv_name]"]) as running:
        running.shared = shared
        running.source = api_index
        yield running


def test_a_killed_replica_fails_no_request_and_rejoins(cluster: Cluster):
    with Load(cluster.url) as load:
        load.wait_answers(30)
        victim = cluster.replicas["r1"]
        os.kill(victim.proc.pid, signal.SIGKILL)
        wait_until(lambda: cluster.server_states().get("r1", "").startswith("DOWN"), "HAProxy to mark r1 DOWN", 30)
        load.wait_answers(30)  # the other two carry the load meanwhile
        replica = cluster.restart("r1")
        replica.wait_ready()
        cluster.wait_servers_up(["r1"], 60)
        before = answered_by(cluster, "r1")
        wait_until(lambda: answered_by(cluster, "r1") > before + 5, "the restarted r1 to answer again", 60)
    assert load.answered() > 60
    assert load.failures() == [], load.failures()[:5]


def test_a_published_build_reaches_every_replica_without_a_failed_request(cluster: Cluster, tmp_path: Path):
    old = cluster.replicas["r1"].readyz()["build"]
    new = another_build(cluster.source, tmp_path / "next")
    with Load(cluster.url) as load:
        load.wait_answers(20)
        published = kb_publish(new, cluster.shared)
        assert published.returncode == 0, published.stdout + published.stderr
        wait_until(lambda: all((r.readyz() or {}).get("build") == new.name for r in cluster.replicas.values()),
                   "every replica to serve the new build", SWITCH_TIMEOUT_S)
        switched = time.monotonic()
        load.wait_answers(30)
    after = [o for o in load.outcomes if o.started > switched and o.status == 200]
    assert len(after) >= 30 and {o.build for o in after} == {new.name}
    assert {o.build for o in load.outcomes if o.status == 200} <= {old, new.name}
    assert load.failures() == [], load.failures()[:5]


def test_a_rate_limit_holds_across_the_replicas(cluster: Cluster):
    statuses, served_by = [], set()
    with Load(cluster.url, clients=1):  # other clients keep the replicas busy meanwhile
        for i in range(3 * RATE_LIMIT):
            # A new connection each time: nothing ties the client to one replica.
            response = httpx.post(cluster.url + "/v1/ask", json={"question": f"which approach for a newsletter? {i}"},
                                  headers={"X-Forwarded-For": "192.0.2.7"}, timeout=30)
            statuses.append(response.status_code)
            if response.status_code == 200:
                served_by.add(response.headers["x-served-by"])
    assert statuses.count(200) == RATE_LIMIT and statuses.count(429) == 2 * RATE_LIMIT, statuses
    assert len(served_by) >= 2, "the answers allowed came from several replicas"


def test_a_corrupt_build_is_refused_everywhere_and_the_old_one_still_served(cluster: Cluster, tmp_path: Path):
    serving = cluster.replicas["r1"].readyz()["build"]
    copy, _ = copy_build(another_build(cluster.source, tmp_path / "corrupt"), cluster.shared)
    vectors = copy / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte: same size, only the checksum tells
    vectors.write_bytes(bytes(data))
    try:
        with Load(cluster.url) as load:
            load.wait_answers(20)
            set_current(cluster.shared, copy.name)  # as a copy gone wrong behind kb publish's back would
            wait_until(lambda: all(((r.readyz() or {}).get("refused") or {}).get("build") == copy.name
                                   for r in cluster.replicas.values()), "every replica to refuse the build",
                       SWITCH_TIMEOUT_S)
            refused_at = time.monotonic()
            load.wait_answers(20)
            states = [r.readyz() for r in cluster.replicas.values()]
    finally:
        set_current(cluster.shared, serving)  # a replica restarted later must find a loadable build
    assert all(s["http_status"] == 200 and s["build"] == serving and "sha256" in s["refused"]["error"] for s in states)
    assert {o.build for o in load.outcomes if o.started > refused_at and o.status == 200} == {serving}
    assert load.failures() == [], load.failures()[:5]


def test_sigterm_drains_a_replica_before_it_exits_0(cluster: Cluster):
    victim = cluster.replicas["r2"]
    with Load(cluster.url) as load:
        load.wait_answers(20)
        victim.proc.send_signal(signal.SIGTERM)
        state = wait_until(lambda: (victim.readyz() or {}).get("status") == "draining" and victim.readyz(),
                           "r2 to report draining", 10, interval_s=0.05)
        assert state["http_status"] == 503
        wait_until(lambda: cluster.server_states().get("r2", "").startswith("DOWN"), "HAProxy to take r2 out", 30)
        assert victim.proc.wait(30) == 0, victim.log()
        load.wait_answers(20)
        cluster.restart("r2").wait_ready()
        cluster.wait_servers_up(["r2"], 60)
    assert load.failures() == [], load.failures()[:5]
