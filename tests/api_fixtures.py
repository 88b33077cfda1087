"""Fixtures for the API tests: the real corpus index (built once per session), the real
KnowledgeBase, apps run through TestClient with their lifespan, and a real uvicorn server.

Loaded by the API test modules with ``pytest_plugins = ["tests.api_fixtures"]``, so that the
session-scoped index and knowledge base are built once for all of them; the index itself is
conftest's ``corpus_index_dir``, shared with the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from kb_service.api.app import create_app
from kb_service.config import Settings, load_settings
from kb_service.store.index import RESERVED_KEYS, index_lock, load_index, write_index
from kb_service.kb import KnowledgeBase

REPO = Path(__file__).resolve().parents[1]
LOAD_TIMEOUT_S = 180  # an upper bound for loading the model and the index, not a sleep


@pytest.fixture(scope="session")
def api_index(corpus_index_dir: Path) -> Path:
    """The session's real corpus index (conftest: KB_TEST_INDEX if set, else built once, like
    `kb ingest`), with the ONNX export that the server's default query path loads."""
    from kb_service.store.index import read_manifest
    from kb_service.kb import ensure_onnx_export

    settings = load_settings()
    manifest = read_manifest(corpus_index_dir)
    assert manifest is not None, f"no index at {corpus_index_dir}"
    if settings.query_backend == "onnx":
        ensure_onnx_export(corpus_index_dir, manifest["model"], settings.onnx_quantize)
    return corpus_index_dir


def api_settings(index: Path, **overrides: Any) -> Settings:
    """Settings for a test app: everything that guards access is explicit, not from the env."""
    values: dict[str, Any] = {
        "index": index,
        "admin_key": None,
        "api_keys": None,
        "cors_origins": "",
        "rate_limit_per_minute": 0,
        "log_questions": False,
        "profile": "journey-optimizer",  # as kb.toml configures it
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def shared_kb(api_index: Path) -> KnowledgeBase:
    """One loaded and warmed KnowledgeBase for every app that does not need its own."""
    settings = api_settings(api_index)
    kb = KnowledgeBase(api_index, query_backend=settings.query_backend, onnx_quantize=settings.onnx_quantize,
                       threads=settings.threads, profile=settings.profile).load()
    kb.warm_up()
    return kb


@contextmanager
def running_app(settings: Settings, kb: Any = None, wait: bool = True, fast_path: bool = True) -> Iterator[TestClient]:
    """The real app with its lifespan run; waits until the start-up load has ended."""
    app = create_app(settings, kb=kb, fast_path=fast_path)
    with TestClient(app) as client:
        if wait:
            assert app.state.service.loaded.wait(LOAD_TIMEOUT_S), "the index did not load in time"
        yield client


@pytest.fixture
def make_client(api_index: Path, shared_kb: KnowledgeBase) -> Iterator[Callable[..., TestClient]]:
    """``make_client(kb=..., fast_path=..., **settings)``: a started app serving ``shared_kb`` by default."""
    with ExitStack() as stack:

        def make(kb: Any = shared_kb, wait: bool = True, fast_path: bool = True, **overrides: Any) -> TestClient:
            overrides.setdefault("index", api_index)
            return stack.enter_context(running_app(api_settings(**overrides), kb=kb, wait=wait, fast_path=fast_path))

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def assert_error(response, status: int, code: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    for word in words:
        assert word in error["message"], error["message"]
    return error


class BlockingKB:
    """A real KnowledgeBase whose ask/chat/search wait on a threading.Event.

    Only for tests about the server's own machinery (in-flight limit, timeouts, reload
    while a request runs): it makes "a request is in progress" a state the test controls,
    instead of hoping a real query is slow enough.
    """

    def __init__(self, kb: KnowledgeBase, block_warm_up: bool = False) -> None:
        self._kb = kb
        self.entered = threading.Event()  # set when a query has started
        self.release = threading.Event()  # set by the test to let queries finish
        self._block_warm_up = block_warm_up

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kb, name)

    def _wait(self) -> None:
        self.entered.set()
        assert self.release.wait(LOAD_TIMEOUT_S), "the test never released the blocked query"

    def warm_up(self) -> None:
        if self._block_warm_up:
            self._wait()
        self._kb.warm_up()

    def ask(self, *args: Any, **kwargs: Any):
        self._wait()
        return self._kb.ask(*args, **kwargs)

    def chat(self, *args: Any, **kwargs: Any):
        self._wait()
        return self._kb.chat(*args, **kwargs)

    def search(self, *args: Any, **kwargs: Any):
        self._wait()
        return self._kb.search(*args, **kwargs)


def current_build_file(root: Path, name: str) -> Path:
    """A file of the build CURRENT names: an index folder can hold older builds beside it
    (the shared test index keeps the one it replaced), and damaging one of those proves nothing."""
    from kb_service.store.index import BUILDS_DIR, CURRENT_NAME

    return root / BUILDS_DIR / (root / CURRENT_NAME).read_text().strip() / name


def copy_index(src: Path, dst: Path) -> Path:
    """A private copy of an index (builds, CURRENT, ONNX export) that a test may change."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ingest.lock", ".tmp-*"))
    return dst


def rebuild(source_root: Path, target_root: Path, drop: Callable[[str, str], bool] = lambda lang, path: False) -> Path:
    """A new real build of ``source_root``'s chunks and vectors in ``target_root`` (write_index,
    no embedding), without the pages ``drop(lang, path)`` names; its build directory."""
    loaded = load_index(source_root)
    chunks = [c for c in loaded.chunks if not drop(c.lang, c.path)]
    rows = [loaded.row_of(c.chunk_id) for c in chunks]
    manifest = {k: v for k, v in loaded.manifest.items() if k not in RESERVED_KEYS}
    manifest["documents"] = {k: v for k, v in manifest["documents"].items() if not drop(v["lang"], v["path"])}
    return write_index(target_root, chunks=chunks, vectors=loaded.vectors[rows], manifest=manifest,
                       unit_vectors=loaded.unit_vectors_for(chunks))


def drop_one_document(index_root: Path) -> str:
    """Write a new (current) build of ``index_root`` without its first document; return that document's key."""
    with index_lock(index_root):
        dropped = sorted(load_index(index_root).manifest["documents"])[0]
        rebuild(index_root, index_root, drop=lambda lang, path: f"{lang}:{path}" == dropped)
    return dropped


# ---- a real server ---------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, process: subprocess.Popen, log_path: Path, env: dict[str, str]) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.env = env

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@contextmanager
def uvicorn_server(index: Path, tmp: Path, **env_overrides: str) -> Iterator[Server]:
    """``uvicorn kb_service.api.app:create_app --factory`` on 127.0.0.1, on a port the OS picked.

    The listening socket is bound here and handed to uvicorn (``--fd``), so there is no race
    for the port; readiness is polled on /readyz a bounded number of times.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "KB_INDEX": str(index)})
    env.update(env_overrides)
    log_path = tmp / f"uvicorn-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "kb_service.api.app:create_app", "--factory", "--fd", str(sock.fileno()),
             "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
             # as `kb serve` does (config.py keep_alive_s: why it outlasts the clients' expiry)
             "--timeout-keep-alive", str(Settings().keep_alive_s)],
            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT, pass_fds=[sock.fileno()],
        )
    sock.close()
    server = Server(f"http://127.0.0.1:{port}", process, log_path, env)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, attempts: int = 1800, interval_s: float = 0.1) -> None:
    for _ in range(attempts):
        if server.process.poll() is not None:
            raise AssertionError(f"uvicorn exited with {server.process.returncode}:\n{server.log()}")
        try:
            response = httpx.get(server.url + "/readyz", timeout=5.0)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return
        if response is not None and response.json().get("status") == "unavailable":
            raise AssertionError(f"the server cannot load its index: {response.text}")
        time.sleep(interval_s)  # poll interval, not a synchronisation: readiness is checked above
    raise AssertionError(f"the server was not ready after {attempts} polls:\n{server.log()}")
