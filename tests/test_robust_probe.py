"""The holes an outside probe found (issue 13), one regression test each, on real servers.

Real uvicorn on 127.0.0.1 (tests/live_server.py, with the options `kb serve` uses), raw
sockets for the clients that misbehave, the real corpus index and ONNX model, a real
redis-server for the shared limits. Faked only where the test says so: an unreadable file
(the tests run as root, which reads any file whatever its mode) and a full disk are
injected as the operating system's errors.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from kb_service.api.workers import ReloadBroadcast, prepare_run_dir
from kb_service.store import index as index_module
from kb_service.store.index import BUILDS_DIR, IndexLoadError, load_index

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import REPO, api_settings, assert_error, copy_index, current_build_file  # noqa: E402
from tests.live_server import live_server  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

ASK = {"question": "which approach for cart abandonment?"}
ADMIN = "admin-secret-key"
KEYS = "key-alpha,key-beta"
DEADLINE_S = 15.0  # an upper bound for the server to act, polled; never a sleep


def raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=DEADLINE_S)
    return sock


def read_until_closed(sock: socket.socket, limit_s: float = DEADLINE_S) -> tuple[bytes, bool]:
    """What the server sends until it closes the connection (True), or until ``limit_s`` (False)."""
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def slow_body_start(url: str, sent: bytes = b"{") -> socket.socket:
    """POST /v1/ask announcing 1,000 bytes of body and sending ``sent`` of them."""
    sock = raw(url)
    sock.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n" + sent)
    return sock


def poll(condition, what: str, limit_s: float = DEADLINE_S):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # poll interval; the condition is what is waited for
    raise AssertionError(f"not within {limit_s} s: {what}")


# ---- 1 and 9: slow bodies, idle and half-sent connections ------------------------------------


def test_slow_bodies_do_not_lock_others_out_and_get_408(api_index, shared_kb):
    settings = api_settings(api_index, max_concurrency=4, body_timeout_s=2.0)
    with live_server(settings, kb=shared_kb) as (url, _app), ExitStack() as stack:
        slow = [stack.enter_context(_closing(slow_body_start(url))) for _ in range(12)]  # 3 x the budget
        # While twelve bodies trickle, a client that sends its request whole is answered.
        for _ in range(3):
            response = httpx.post(url + "/v1/ask", json=ASK, timeout=DEADLINE_S)
            assert response.status_code == 200, response.text
        # And each slow body ends in 408 body_timeout, its connection closed.
        for sock in slow:
            data, closed = read_until_closed(sock)
            assert data.startswith(b"HTTP/1.1 408"), data[:200]
            assert b'"code":"body_timeout"' in data and b"body_timeout_s" in data
            assert closed, "the connection of a timed-out body was left open"


def test_idle_and_half_sent_connections_are_closed(api_index, shared_kb):
    # An idle keep-alive connection waits keep_alive_s (75 by default, beyond the clients'
    # own expiry); the others, idle_timeout_s. Both short here so the test is quick.
    settings = api_settings(api_index, idle_timeout_s=1.0, keep_alive_s=2)
    with live_server(settings, kb=shared_kb) as (url, _app):
        idle = raw(url)  # connects, never sends a byte
        half_line = raw(url)
        half_line.sendall(b"POST /v1/as")
        half_headers = raw(url)
        half_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        kept_alive = raw(url)
        kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for name, sock in [("idle", idle), ("half a request line", half_line), ("half the headers", half_headers),
                           ("an idle keep-alive connection", kept_alive)]:
            with _closing(sock):
                data, closed = read_until_closed(sock)
                assert closed, f"{name}: still open after {DEADLINE_S} s"
        assert b"200 OK" in data  # the keep-alive one was answered before it was closed


def test_uvicorn_parse_errors_and_refused_preflights_have_the_json_error_shape(api_index, shared_kb, make_client):
    settings = api_settings(api_index)
    with live_server(settings, kb=shared_kb) as (url, _app):
        with _closing(raw(url)) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            data, _closed = read_until_closed(sock)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower()
        assert json.loads(body)["error"]["code"] == "bad_request"
    client = make_client(cors_origins="https://docs.example.com")
    refused = client.options("/v1/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert_error(refused, 400, "cors_refused", "origin")


# ---- 2: a truncated vectors.npy -------------------------------------------------------------


def test_truncating_the_vectors_of_a_loaded_index_is_harmless(api_index, tmp_path):
    # In a child process: on a memory-mapped file the damage is SIGBUS, which would kill pytest.
    root = copy_index(api_index, tmp_path / "index")
    child = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from kb_service.store.index import load_index
        loaded = load_index(Path({str(root)!r}))
        os.truncate(loaded.build_dir / "vectors.npy", 0)
        print(float(loaded.vectors.sum()), loaded.vectors.shape[0])
    """)
    run = subprocess.run([sys.executable, "-c", child], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"exit {run.returncode} (-7 is SIGBUS): {run.stderr[-2000:]}"
    assert int(run.stdout.split()[1]) > 1000


def test_a_truncated_vectors_file_is_a_503_naming_it_only_in_the_log(api_index, tmp_path, make_client, caplog):
    root = copy_index(api_index, tmp_path / "index")
    vectors = current_build_file(root, "vectors.npy")
    os.truncate(vectors, 0)
    with pytest.raises(IndexLoadError, match="vectors.npy"):
        load_index(root)
    with caplog.at_level(logging.ERROR, logger="kb_service.api"):
        client = make_client(kb=None, index=root)
    readyz = client.get("/readyz")
    ask = client.post("/v1/ask", json=ASK)
    assert readyz.status_code == 503 and ask.status_code == 503
    assert_error(ask, 503, "index_unavailable", "server log")
    for body in (readyz.text, ask.text):
        assert str(tmp_path) not in body and "vectors.npy" not in body and "/" + BUILDS_DIR not in body
    logged = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "index_unavailable"]
    assert logged and "vectors.npy" in logged[0].fields["error"]


# ---- 3 and 4: reloads ---------------------------------------------------------------------


def test_an_unreadable_build_file_fails_the_reload_naming_it(api_index, tmp_path, make_client, monkeypatch, caplog):
    root = copy_index(api_index, tmp_path / "index")
    client = make_client(admin_key=ADMIN, index=root, kb=None)
    assert client.get("/readyz").status_code == 200
    dense = current_build_file(root, "dense.faiss")
    real_sha256 = index_module._sha256

    def unreadable(path):  # what open() raises for a file with mode 000, as a non-root user
        if Path(path) == dense:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_sha256(path)

    monkeypatch.setattr(index_module, "_sha256", unreadable)
    response = client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN})
    error = assert_error(response, 409, "reload_failed", "dense.faiss", "Permission denied",
                         "previous index is still being served")
    assert str(tmp_path) not in error["message"]
    assert client.post("/v1/ask", json=ASK).status_code == 200
    # A server starting on it: the log names the file (it said "unexpected error").
    with caplog.at_level(logging.ERROR, logger="kb_service.api"):
        fresh = make_client(index=root, kb=None)
    assert_error(fresh.post("/v1/ask", json=ASK), 503, "index_unavailable", "server log")
    logged = [r.fields.get("error") for r in caplog.records if getattr(r, "fields", {}).get("event") == "index_unavailable"]
    assert logged and "dense.faiss" in logged[0] and "Permission denied" in logged[0]


class SlowWorker:
    """One worker of a multi-worker server, as the reload protocol sees it: a reload that
    takes a while (a fake: index loading is covered elsewhere) and is serialised within the
    worker, as Service.reload is."""

    def __init__(self, folder: Path, pid: int) -> None:
        self.reloads = 0
        self.started = threading.Event()
        self._lock = threading.Lock()
        self.broadcast = ReloadBroadcast(folder, self.reload, pid=pid)

    def reload(self) -> int:
        with self._lock:
            self.started.set()
            time.sleep(0.3)  # the work of loading an index, not a synchronisation
            self.reloads += 1
            return self.reloads


def test_two_reloads_asked_of_two_workers_at_once_both_succeed(tmp_path, monkeypatch):
    from kb_service.api import workers

    folder = tmp_path / "run"
    prepare_run_dir(folder)
    monkeypatch.setattr(workers, "_alive", lambda pid: pid < 900_000)
    a, b = SlowWorker(folder, 501), SlowWorker(folder, 502)
    for w in (a, b):
        w.broadcast.start_watching()
    results: dict[str, object] = {}

    def admin_reload(name: str, worker: SlowWorker) -> None:
        results[name] = worker.broadcast.reload_everywhere(timeout_s=5.0)

    try:
        first = threading.Thread(target=admin_reload, args=("a", a))
        first.start()
        assert a.started.wait(5)
        second = threading.Thread(target=admin_reload, args=("b", b))
        second.start()
        first.join(30)
        second.join(30)
        for name in ("a", "b"):
            _result, spread = results[name]
            assert spread == {"workers": 2, "failed": [], "late": []}, (name, spread)
        assert a.reloads >= 2 and b.reloads >= 2  # each worker loaded the index after each request
    finally:
        for w in (a, b):
            w.broadcast.stop()


# ---- 5: rate limits: the real client, shared, failed authentications ------------------------


def test_forwarded_headers_are_believed_only_from_trusted_proxies(api_index, shared_kb, caplog):
    settings = api_settings(api_index, rate_limit_per_minute=2)
    with live_server(settings, kb=shared_kb) as (url, _app):
        with caplog.at_level(logging.INFO, logger="kb_service.api.access"):
            statuses = [httpx.post(url + "/v1/ask", json=ASK, headers={"X-Forwarded-For": f"10.0.0.{i}"},
                                   timeout=DEADLINE_S).status_code for i in range(5)]
        assert statuses == [200, 200, 429, 429, 429]
        clients = {r.fields["client"] for r in caplog.records if r.name == "kb_service.api.access"}
        assert clients == {"127.0.0.1"}
    trusted = api_settings(api_index, rate_limit_per_minute=2, trusted_proxies="127.0.0.1")
    with live_server(trusted, kb=shared_kb) as (url, _app):
        statuses = [httpx.post(url + "/v1/ask", json=ASK, headers={"X-Forwarded-For": f"10.0.0.{i}"},
                               timeout=DEADLINE_S).status_code for i in range(5)]
        assert statuses == [200] * 5  # behind a trusted proxy, each forwarded address is a client


def test_failed_authentications_are_limited_per_address(make_client):
    client = make_client(api_keys=KEYS, admin_key=ADMIN, auth_failures_per_minute=3)
    for i in range(3):
        assert_error(client.post("/v1/ask", json=ASK, headers={"X-API-Key": f"guess-{i}"}), 401, "unauthorized")
    for headers in ({"X-API-Key": "guess-4"}, {"X-API-Key": "key-alpha"}):  # past the limit, even the right key
        response = client.post("/v1/ask", json=ASK, headers=headers)
        assert_error(response, 429, "rate_limited", "failed authentications")
        assert int(response.headers["retry-after"]) >= 1
    assert_error(client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN}), 429, "rate_limited")
    assert 'kb_rejected_total{reason="auth_limit"} 3.0' in client.get("/metrics").text


_HITS = """
import sys
from kb_service.api.deps import Service
from kb_service.config import Settings
service = Service(Settings(index=sys.argv[1], rate_limit_per_minute=10))  # KB_RUN_DIR: one of several workers
print(type(service.limits.storage).__name__, sum(service.limits.take("ip:127.0.0.1") == 0 for _ in range(15)))
"""


def test_without_redis_the_workers_of_one_server_share_one_count(tmp_path, api_index):
    # Two processes with the run folder of one `kb serve --workers 2`, as its two workers
    # are: 15 requests each from one address, against a limit of 10 a minute.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KB_")}, "KB_RUN_DIR": str(tmp_path)}
    runs = [subprocess.Popen([sys.executable, "-c", _HITS, str(api_index)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err[-2000:] for _out, err in outputs]
    found = [out.split() for out, _err in outputs]
    assert {kind for kind, _passed in found} == {"SQLiteWindowStorage"}
    assert sum(int(passed) for _kind, passed in found) == 10, found


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A throw-away redis-server on a free port of 127.0.0.1, without persistence."""
    subprocess.run(["bash", str(REPO / "scripts" / "system-deps.sh"), "redis-server"], check=True, timeout=600)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        for _ in range(100):  # bounded: redis answers PING once it listens
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        else:
            raise AssertionError("redis-server did not answer PING")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_with_redis_every_replica_shares_one_count(make_client, redis_url):
    replicas = [make_client(rate_limit_per_minute=3, redis_url=redis_url) for _ in range(2)]
    statuses = [replicas[i % 2].post("/v1/ask", json=ASK).status_code for i in range(6)]
    assert sorted(statuses) == [200, 200, 200, 429, 429, 429], statuses
    storage = replicas[0].app.state.service.limits.storage
    assert type(storage).__name__ == "RedisStorage" and storage.check()


# ---- 6: abandoned requests --------------------------------------------------------------------


def test_a_client_that_leaves_mid_body_is_counted_as_499_not_500(api_index, shared_kb):
    settings = api_settings(api_index)
    with live_server(settings, kb=shared_kb) as (url, _app):
        for _ in range(3):
            slow_body_start(url, sent=b'{"question": "cart').close()

        def counted() -> str | None:
            text = httpx.get(url + "/metrics", timeout=DEADLINE_S).text
            return text if 'route="/v1/ask",status="499"} 3.0' in text else None

        metrics = poll(counted, "three abandoned requests counted as 499")
        assert 'status="500"' not in metrics


# ---- 7: a full disk while the query model is copied beside the index --------------------------


def test_a_full_disk_while_exporting_the_query_model_is_one_line_and_leaves_no_folder(api_index, tmp_path,
                                                                                        monkeypatch):
    from kb_service.models.export_cache import export_into
    from kb_service.models.onnx import OnnxModelError

    real = tempfile.TemporaryDirectory

    def full_disk(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, "No space left on device", str(kwargs["dir"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryDirectory", full_disk)
    target = tmp_path / "index" / "onnx" / "all-minilm-l6-v2-int8"
    (tmp_path / "index").mkdir()
    with pytest.raises(OnnxModelError) as refused:
        export_into("all-MiniLM-L6-v2", target, quantize="int8")
    message = str(refused.value)
    assert "\n" not in message and "No space left on device" in message and "kb ingest" in message
    assert list((tmp_path / "index").iterdir()) == []  # no empty onnx/ folder left


# ---- 8: k is an integer ---------------------------------------------------------------------


@pytest.mark.parametrize("fast_path", [True, False])
def test_k_must_be_a_json_integer(make_client, fast_path):
    client = make_client(fast_path=fast_path)
    for k in ("5", " 5 ", 5.0, True):
        for path, body in (("/v1/ask", dict(ASK)), ("/v1/search", {"query": "journey"}),
                           ("/v1/chat", {"messages": [{"role": "user", "content": "journey"}]})):
            assert_error(client.post(path, json={**body, "k": k}), 422, "invalid_request", "k")
    assert client.post("/v1/ask", json={**ASK, "k": 5}).status_code == 200


# ---- 9: the query model is checksummed, and onnxruntime reports nothing -----------------------


def _onnx_dir(index_root: Path) -> Path:
    return next(p.parent for p in (index_root / "onnx").glob("*int8/model.onnx"))


def test_a_flipped_byte_in_the_query_model_is_refused_by_name(api_index, tmp_path):
    from kb_service.models.onnx import OnnxEmbedder, OnnxModelError

    copy = Path(shutil.copytree(_onnx_dir(api_index), tmp_path / "model"))
    model = copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(OnnxModelError, match=r"model\.onnx is corrupt"):
        OnnxEmbedder(copy, name="all-MiniLM-L6-v2", threads=1).warm_up()


def test_onnxruntime_writes_no_telemetry(api_index, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["HOME"] = str(tmp_path / "home")
    child = ("import sys; from pathlib import Path; from kb_service.models.onnx import OnnxEmbedder; "
             "print(OnnxEmbedder(Path(sys.argv[1]), name='m', threads=1).encode(['journey']).shape)")
    run = subprocess.run([sys.executable, "-c", child, str(_onnx_dir(api_index))], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not (tmp_path / "home" / ".cache" / "Microsoft").exists()


@contextmanager
def _closing(sock: socket.socket):
    try:
        yield sock
    finally:
        sock.close()
