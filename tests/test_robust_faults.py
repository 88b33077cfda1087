"""Faults: an ingest killed mid-way, corrupt or truncated index files, reloads under load, and a
disk that refuses to write. Real files, the real CLI, the real app over real HTTP.

* ``kb ingest`` is run as a subprocess and SIGKILLed (after it starts embedding; while its
  ``builds/.tmp-*`` folder exists): the previous build still loads and answers, and the
  next ingest completes and sweeps the leftovers.
* Every file of a served index is corrupted, truncated and deleted in turn: a reload answers
  409 ``reload_failed`` naming the file, and the old index keeps answering.
* 20 reloads in a row while client threads query without pause: zero failed requests.
* ENOSPC / EROFS / EIO at each write step of an ingest: a clear ``IndexWriteError``, the
  previous build current and intact, nothing left behind.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest

from kb_service.store import index as index_module
from kb_service.config import SourceConfig
from kb_service.store.index import (
    BUILDS_DIR,
    CURRENT_NAME,
    IndexWriteError,
    load_index,
)
from kb_service.ingest.pipeline import ingest
from kb_service.kb import KnowledgeBase

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import (LOAD_TIMEOUT_S, REPO, api_settings, assert_error, current_build_file,  # noqa: E402
                                 drop_one_document)
from tests.live_server import live_server  # noqa: E402
from tests.toy import ToyEmbedder  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

SHARED_EN = REPO.parent / "shared" / "corpus" / "en"
GUIDE_FR = REPO / "corpus" / "fr"
ENTRY = "help/using/start/journeys-vs-campaigns.md"
ADMIN = "fault-admin-key"
KB_CLI = Path(sys.executable).with_name("kb")
INGEST_TIMEOUT_S = 600  # an upper bound for one `kb ingest` on a busy 2-core machine, not a sleep

needs_shared_en = pytest.mark.skipif(not (SHARED_EN / ENTRY).is_file(), reason="../shared/corpus/en is missing")


def copy_builds(src: Path, dst: Path) -> Path:
    """An index's CURRENT and builds, without the ONNX export (the tests reuse a loaded model)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("onnx", ".ingest.lock", ".tmp-*"))
    return dst


def current_build(root: Path) -> str:
    return (root / CURRENT_NAME).read_text().strip()


def leftovers(root: Path) -> list[str]:
    found = [p.name for p in root.glob(".tmp-*")]
    builds = root / BUILDS_DIR
    if builds.is_dir():
        found += [f"{BUILDS_DIR}/{p.name}" for p in builds.glob(".tmp-*")]
    return sorted(found)


# ---- kb ingest, SIGKILLed -------------------------------------------------------------------


def write_config(path: Path, *, with_english: bool) -> Path:
    """A small configuration: the shipped French guide, plus (to force embedding) the English entry page.

    ``query_backend = "torch"`` keeps `kb ingest` from exporting the ONNX query model: these
    tests load the index with the session's already loaded query model. ``ingest_backend =
    "onnx"`` embeds with the session's fp32 export (copied from the session cache), so each
    `kb ingest` process starts without importing torch or loading the model: what is killed
    is the same pipeline, and each run is seconds shorter.
    """
    sources = []
    if with_english:
        sources.append(f'[[sources]]\nname = "jo-en"\nroot = "{SHARED_EN}"\nlang = "en"\nentry = ["{ENTRY}"]\n')
    sources.append(f'[[sources]]\nname = "guide-fr"\nroot = "{GUIDE_FR}"\nlang = "fr"\nentry = ["{ENTRY}"]\n')
    path.write_text('query_backend = "torch"\ningest_backend = "onnx"\nlink_depth = 0\n\n' + "\n".join(sources))
    return path


def cli_env() -> dict[str, str]:
    # No KB_* settings leak in from the caller, except the session's export cache (conftest.py).
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_") or k == "KB_CACHE_DIR"}
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    return env


class Ingest:
    """A running `kb ingest`; stderr is read by a thread, so the pipe never fills."""

    def __init__(self, root: Path, config: Path) -> None:
        self.process = subprocess.Popen([str(KB_CLI), "ingest", "--index", str(root), "--config", str(config)],
                                        cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.embedding = threading.Event()
        self.stderr: list[str] = []
        self.stdout = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            if line.startswith("embedding "):
                self.embedding.set()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.wait()

    def wait(self) -> int:
        self.stdout, _ = self.process.communicate(timeout=INGEST_TIMEOUT_S)
        self._reader.join(timeout=30)
        return self.process.returncode

    def output(self) -> str:
        return self.stdout + "".join(self.stderr)


def run_ingest(root: Path, config: Path) -> Ingest:
    run = Ingest(root, config)
    assert run.wait() == 0, run.output()
    return run


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, shared_kb, onnx_fp32_dir) -> Path:
    """The previous build: the French guide alone (one page), embedded with the session's loaded
    query model (the same model as `kb ingest`, without a second model load)."""
    if not (SHARED_EN / ENTRY).is_file():
        pytest.skip("../shared/corpus/en is missing")
    root = tmp_path_factory.mktemp("small") / "index"
    ingest(sources=[SourceConfig(name="guide-fr", root=GUIDE_FR, lang="fr", entry=[ENTRY])], link_depth=0,
           index_root=root, embedder=shared_kb.embedder)
    return root


def assert_previous_build_serves(root: Path, build: str, embedder) -> None:
    assert current_build(root) == build
    kb = KnowledgeBase(root, embedder=embedder).load()
    assert kb.info()["build"] == build
    assert {d["lang"] for d in kb.documents()} == {"fr"}
    answer = kb.ask("quelle approche pour une newsletter mensuelle ?")
    assert not answer.abstained and answer.citations


def kill_after_embedding_starts(run: Ingest, root: Path) -> bool:
    assert run.embedding.wait(INGEST_TIMEOUT_S), f"`kb ingest` never started embedding:\n{run.output()}"
    run.kill()
    return True


def kill_while_tmp_build_exists(run: Ingest, root: Path) -> bool:
    """Poll ``builds/`` for the ingest's ``.tmp-*`` folder; False when the ingest finished first."""
    builds = root / BUILDS_DIR
    deadline = time.monotonic() + INGEST_TIMEOUT_S
    while run.process.poll() is None and time.monotonic() < deadline:
        if any(name.startswith(".tmp-") for name in os.listdir(builds)):
            run.kill()
            return True
        time.sleep(0.0005)  # a poll interval: the writer's window lasts tens of milliseconds
    run.wait()
    return False


@needs_shared_en
def test_sigkilled_ingest_keeps_the_previous_index_and_the_next_ingest_cleans_up(small_index, tmp_path, shared_kb):
    previous = current_build(small_index)
    config = write_config(tmp_path / "grow.toml", with_english=True)
    outcomes = {}
    roots = {}
    for name, kill in (("after 'embedding'", kill_after_embedding_starts),
                       ("while builds/.tmp-* exists", kill_while_tmp_build_exists)):
        root = roots[name] = copy_builds(small_index, tmp_path / name.split()[0].strip("'"))
        run = Ingest(root, config)
        killed = kill(run, root)
        outcomes[name] = killed
        if not killed:  # the ingest finished before the poll saw its folder: not counted
            assert run.process.returncode == 0, run.output()
            continue
        assert run.process.returncode == -signal.SIGKILL
        assert "Indexed" not in run.stdout
        assert_previous_build_serves(root, previous, shared_kb.embedder)
    assert outcomes["after 'embedding'"], "the kill after 'embedding' always counts"
    print(f"SIGKILL attempts counted: {outcomes}")

    # The next ingest completes where the most was left behind, and sweeps it.
    root = roots["while builds/.tmp-* exists"] if outcomes["while builds/.tmp-* exists"] else roots["after 'embedding'"]
    had = leftovers(root)
    if outcomes["while builds/.tmp-* exists"]:
        assert had, "the killed writer's .tmp-* folder should still be there before the next ingest"
    done = run_ingest(root, config)
    assert "Indexed 2 pages" in done.stdout, done.output()
    assert leftovers(root) == []
    assert current_build(root) != previous
    assert sorted(p.name for p in (root / BUILDS_DIR).iterdir()) == sorted({previous, current_build(root)})
    kb = KnowledgeBase(root, embedder=shared_kb.embedder).load()
    assert {d["lang"] for d in kb.documents()} == {"en", "fr"}
    answer = kb.ask("which approach for cart abandonment?")
    assert not answer.abstained and answer.lang == "en"
    assert all(c.hit.chunk.lang == "en" for c in answer.citations)


@pytest.mark.slow
@needs_shared_en
@pytest.mark.parametrize("attempt", range(5))
def test_sigkill_at_a_random_point_of_an_ingest(small_index, tmp_path, shared_kb, attempt):
    """Slow: SIGKILL at a random moment between 'embedding' and the end of a typical run."""
    import random

    previous = current_build(small_index)
    root = copy_builds(small_index, tmp_path / "index")
    config = write_config(tmp_path / "grow.toml", with_english=True)
    run = Ingest(root, config)
    assert run.embedding.wait(INGEST_TIMEOUT_S), run.output()
    delay = random.Random(attempt).uniform(0.0, 5.0)
    if run.process.poll() is None:
        try:
            run.process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
    if run.process.poll() is not None:
        assert run.wait() == 0, run.output()
        pytest.skip(f"the ingest finished within {delay:.2f} s: nothing to interrupt")
    run.kill()
    # Killed before the CURRENT swap: the previous build serves. Killed after it (while the
    # process swept or printed its summary): the new build is complete. Never anything else.
    if current_build(root) == previous:
        assert_previous_build_serves(root, previous, shared_kb.embedder)
    else:
        killed_after_swap = KnowledgeBase(root, embedder=shared_kb.embedder).load()
        assert {d["lang"] for d in killed_after_swap.documents()} == {"en", "fr"}
        assert not killed_after_swap.ask("which approach for cart abandonment?").abstained
    run_ingest(root, config)
    assert leftovers(root) == []
    assert {d["lang"] for d in KnowledgeBase(root, embedder=shared_kb.embedder).load().documents()} == {"en", "fr"}


def test_ingest_into_a_path_under_a_file_is_a_clear_cli_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = write_config(tmp_path / "base.toml", with_english=False)
    result = subprocess.run([str(KB_CLI), "ingest", "--index", str(blocker / "index"), "--config", str(config)],
                            cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=INGEST_TIMEOUT_S)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot use {blocker / 'index'} as the index folder (Not a directory" in result.stderr
    assert blocker.read_text() == "not a folder"


# ---- disk full, read-only, I/O errors during an ingest ---------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _erofs(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def _eio(*args, **kwargs):
    raise OSError(errno.EIO, os.strerror(errno.EIO))


def _fail_on_nth(real: Callable, fault: Callable, n: int) -> Callable:
    calls = [0]

    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            return fault(*args, **kwargs)
        return real(*args, **kwargs)

    return call


def _refuse_new_tmp_dirs(real: Callable) -> Callable:
    # A read-only file system still answers EEXIST for folders that exist (index_lock's mkdir).
    def mkdir(path, *args, **kwargs):
        if Path(path).name.startswith(".tmp-"):
            _erofs()
        return real(path, *args, **kwargs)

    return mkdir


def _refuse_lock_file(real: Callable) -> Callable:
    def open_(path, *args, **kwargs):
        if Path(path).name == index_module.LOCK_NAME:
            _erofs()
        return real(path, *args, **kwargs)

    return open_


FAULTS = {
    # where: (object, attribute, replacement factory, message the error must carry)
    "disk full writing chunks.jsonl": (index_module, "_write_file", lambda real: _fail_on_nth(real, _enospc, 1),
                                       "No space left on device"),
    "disk full writing vectors.npy": (index_module.np, "save", lambda real: _enospc, "No space left on device"),
    "disk full writing the manifest": (index_module, "_write_file", lambda real: _fail_on_nth(real, _enospc, 2),
                                       "No space left on device"),
    "disk full writing CURRENT": (index_module, "_write_file", lambda real: _fail_on_nth(real, _enospc, 3),
                                  "No space left on device"),
    "read-only folder at the lock file": (index_module.os, "open", lambda real: _refuse_lock_file(real),
                                          "Read-only file system"),
    "read-only folder at the tmp build": (index_module.os, "mkdir", lambda real: _refuse_new_tmp_dirs(real),
                                          "Read-only file system"),
    "read-only folder at the rename": (index_module.os, "rename", lambda real: _erofs, "Read-only file system"),
    "read-only folder at the swap": (index_module.os, "replace", lambda real: _erofs, "Read-only file system"),
    "I/O error at fsync": (index_module.os, "fsync", lambda real: _fail_on_nth(real, _eio, 2), "Input/output error"),
}


def toy_sources() -> list[SourceConfig]:
    return [SourceConfig(name="guide-fr", root=GUIDE_FR, lang="fr", entry=[ENTRY])]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_refusing_disk_during_ingest_is_a_clear_error_and_the_old_index_stays(tmp_path, monkeypatch, fault):
    root = tmp_path / "index"
    embedder = ToyEmbedder()  # the model is not what is tested here; the files are real
    first = ingest(sources=toy_sources(), link_depth=0, index_root=root, embedder=embedder)
    before = {p.name: sorted(q.name for q in p.rglob("*")) for p in (root / BUILDS_DIR).iterdir()}

    target, attribute, make, message = FAULTS[fault]
    monkeypatch.setattr(target, attribute, make(getattr(target, attribute)))
    with pytest.raises(IndexWriteError) as info:
        ingest(sources=toy_sources(), link_depth=0, index_root=root, embedder=embedder, force=True)
    monkeypatch.undo()

    error = str(info.value)
    assert isinstance(info.value, OSError)
    assert message in error and str(root) in error
    assert "previous index, if any, is unchanged" in error or "nothing was changed" in error
    assert current_build(root) == first.build_dir.name
    assert {p.name: sorted(q.name for q in p.rglob("*")) for p in (root / BUILDS_DIR).iterdir()} == before
    assert leftovers(root) == []
    loaded = load_index(root)  # verified: every checksum still matches
    assert loaded.build_dir == first.build_dir
    # And once the disk behaves again, the next ingest succeeds.
    again = ingest(sources=toy_sources(), link_depth=0, index_root=root, embedder=embedder, force=True)
    assert current_build(root) == again.build_dir.name != first.build_dir.name


# ---- corrupt index files and a running server ---------------------------------------------------


@pytest.fixture
def served_copy(api_index: Path, tmp_path: Path) -> Path:
    return copy_builds(api_index, tmp_path / "index")


def corruptions(data: bytes) -> dict[str, bytes | None]:
    """Ways to damage one file: flip a byte (first, middle, last), truncate, empty, delete."""
    def flip(position: int) -> bytes:
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        return bytes(damaged)

    return {"first byte flipped": flip(0), "middle byte flipped": flip(len(data) // 2),
            "last byte flipped": flip(len(data) - 1), "truncated to half": data[: len(data) // 2],
            "emptied": b"", "deleted": None}


def test_each_corrupt_file_fails_the_reload_naming_it_and_the_old_index_keeps_answering(make_client, served_copy):
    root = served_copy
    client = make_client(admin_key=ADMIN, index=root)
    build = current_build(root)
    files = [root / CURRENT_NAME] + sorted(p for p in (root / BUILDS_DIR / build).rglob("*") if p.is_file())
    assert len(files) >= 12  # CURRENT, manifest, chunks, vectors, dense and every lexical file
    before = client.get("/v1/index").json()
    problems = []
    for path in files:
        original = path.read_bytes()
        name = path.relative_to(root).as_posix().split("/", 2)[-1]  # e.g. lexical-en/vocab.index.json
        for how, damaged in corruptions(original).items():
            if damaged is None:
                path.unlink()
            else:
                path.write_bytes(damaged)
            try:
                response = client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN})
                error = response.json().get("error", {})
                if response.status_code != 409 or error.get("code") != "reload_failed":
                    problems.append(f"{name} {how}: {response.status_code} {response.text[:300]}")
                elif name not in error["message"] or "previous index is still being served" not in error["message"]:
                    problems.append(f"{name} {how}: the message does not name the file: {error['message']}")
                answer = client.post("/v1/ask", json={"question": "which approach for cart abandonment?"})
                if answer.status_code != 200 or answer.json()["approach"] != "journey":
                    problems.append(f"{name} {how}: /v1/ask after the failed reload: {answer.status_code}")
            finally:
                path.write_bytes(original)
    assert problems == [], "\n".join(problems)
    assert client.get("/v1/index").json() == before
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert f'kb_reloads_total{{result="failure"}} {float(len(files) * 6)}' in metrics
    # The damage was the only cause: with every file restored, the reload succeeds.
    assert client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN}).status_code == 200


def test_a_server_starting_on_a_corrupt_index_says_which_file(make_client, served_copy, caplog):
    dense = current_build_file(served_copy, "dense.faiss")
    data = bytearray(dense.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dense.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="kb_service.api"):
        client = make_client(kb=None, index=served_copy)
    readyz = client.get("/readyz")
    assert readyz.status_code == 503
    # The server log names the file; the public answers name no path (issue 13).
    logged = [r.fields["error"] for r in caplog.records if getattr(r, "fields", {}).get("event") == "index_unavailable"]
    assert logged and "dense.faiss" in logged[0] and "sha256" in logged[0]
    assert "dense.faiss" not in readyz.text and str(served_copy) not in readyz.text
    assert_error(client.post("/v1/ask", json={"question": "journey"}), 503, "index_unavailable", "server log")


# ---- reloads under load ---------------------------------------------------------------------


def write_smaller_build(root: Path) -> tuple[str, str]:
    """A second build without the first document; returns (old build, new build), CURRENT at the old one."""
    old = current_build(root)
    drop_one_document(root)
    new = current_build(root)
    point_current_at(root, old)
    return old, new


def point_current_at(root: Path, build: str) -> None:
    """Switch CURRENT the way an ingest does: a new file, then one atomic rename."""
    tmp = root / f".tmp-{CURRENT_NAME}-test"
    tmp.write_text(build + "\n")
    os.replace(tmp, root / CURRENT_NAME)


QUERIES = [
    ("/v1/ask", {"question": "which approach for cart abandonment?"}),
    ("/v1/search", {"query": "journey wait activity", "k": 5}),
    ("/v1/chat", {"messages": [{"role": "user", "content": "which approach for cart abandonment?"},
                               {"role": "user", "content": "and for a monthly newsletter?"}]}),
    ("/v1/ask", {"question": "quelle approche pour une newsletter mensuelle ?"}),
    ("/v1/chat/completions", {"model": "kb", "messages": [{"role": "user", "content": "what is a journey?"}]}),
]


class Clients:
    """Threads that query without pause until stopped, counting every outcome."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.stop = threading.Event()
        self.done = [0] * count
        self.failures: list[str] = []
        self.progress = threading.Condition()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=LOAD_TIMEOUT_S) as http:
            n = i
            while not self.stop.is_set():
                route, body = QUERIES[n % len(QUERIES)]
                n += 1
                try:
                    response = http.post(route, json=body)
                    if response.status_code != 200:
                        self.failures.append(f"{route}: {response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{route}: {type(exc).__name__}: {exc}")
                with self.progress:
                    self.done[i] += 1
                    self.progress.notify_all()

    def snapshot(self) -> list[int]:
        with self.progress:
            return list(self.done)

    def wait_each_past(self, mark: list[int]) -> None:
        """Block until every client has finished a request started after ``mark`` (bounded)."""
        with self.progress:
            ok = self.progress.wait_for(lambda: all(d > m + 1 for d, m in zip(self.done, mark)) or self.failures,
                                        timeout=LOAD_TIMEOUT_S)
        assert ok, f"the clients stalled: {self.done} vs {mark}"


def test_twenty_reloads_while_clients_query_fail_no_request(served_copy, shared_kb):
    root = served_copy
    builds = write_smaller_build(root)
    documents = {}
    settings = api_settings(root, admin_key=ADMIN, request_timeout_s=60)  # a slow machine is not a reload failure
    with live_server(settings, kb=shared_kb) as (url, app):
        service = app.state.service
        clients = Clients(url, count=4)
        real_reload = service.reload

        def reload_while_clients_query():
            # Inside the reload request: requests complete before the new index is loaded and
            # after it is published, so queries and the swap truly overlap.
            clients.wait_each_past(clients.snapshot())
            serving = real_reload()
            clients.wait_each_past(clients.snapshot())
            return serving

        service.reload = reload_while_clients_query
        for thread in clients.threads:
            thread.start()
        try:
            clients.wait_each_past([0] * len(clients.done))
            with httpx.Client(base_url=url, timeout=LOAD_TIMEOUT_S, headers={"X-Admin-Key": ADMIN}) as admin:
                for i in range(20):
                    build = builds[(i + 1) % 2]
                    point_current_at(root, build)
                    response = admin.post("/v1/admin/reload")
                    assert response.status_code == 200, response.text
                    assert response.json()["build"] == build
                    documents[build] = response.json()["documents"]
                    assert not clients.failures, clients.failures[:5]
        finally:
            clients.stop.set()
            for thread in clients.threads:
                thread.join(timeout=LOAD_TIMEOUT_S)
        total = sum(clients.done)
        assert clients.failures == [], f"{len(clients.failures)} of {total} requests failed: {clients.failures[:5]}"
        assert total >= 20 * 2 * len(clients.done)
        assert documents[builds[0]] == documents[builds[1]] + 1
        assert httpx.get(url + "/metrics").text.count('kb_reloads_total{result="success"} 20.0') == 1
