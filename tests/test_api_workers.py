"""Several worker processes of one server: the reload broadcast, with real files and threads.

The workers here are ReloadBroadcast objects in one process, each with its own reload
callable (a fake: what is under test is the epoch and acknowledgement protocol, not index
loading, which test_api_admin covers). tests/test_slow_workers.py runs `kb serve --workers 2`.
"""

from __future__ import annotations

import json
import os
import threading

import pytest

from kb_service.api import workers
from kb_service.api.workers import ReloadBroadcast, prepare_run_dir


class FakeWorker:
    def __init__(self, folder, pid, fail: str | None = None) -> None:
        self.reloads = 0
        self.fail = fail
        self.done = threading.Event()
        self.broadcast = ReloadBroadcast(folder, self.reload, pid=pid)

    def reload(self) -> None:
        self.reloads += 1
        self.done.set()
        if self.fail:
            raise RuntimeError(self.fail)


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    env = prepare_run_dir(tmp_path / "run")
    assert set(env) == {"KB_RUN_DIR", "PROMETHEUS_MULTIPROC_DIR"}
    # Fake pids stand for live workers unless a test says otherwise.
    monkeypatch.setattr(workers, "_alive", lambda pid: pid < 900_000)
    return tmp_path / "run"


def test_a_reload_reaches_every_worker_before_it_answers(run_dir):
    a, b, c = (FakeWorker(run_dir, pid) for pid in (101, 102, 103))
    for w in (b, c):
        w.broadcast.start_watching()
    try:
        spread = a.broadcast.announce(timeout_s=30)
        assert spread == {"workers": 3, "failed": [], "late": []}
        assert (b.reloads, c.reloads) == (1, 1)
        assert a.reloads == 0  # the announcing worker reloaded itself before announcing
        assert (run_dir / "reload-epoch").read_text() == "1"
    finally:
        for w in (b, c):
            w.broadcast.stop()


def test_a_worker_whose_reload_fails_is_named(run_dir):
    a = FakeWorker(run_dir, 201)
    b = FakeWorker(run_dir, 202, fail="index at /x was built with model 'other'")
    b.broadcast.start_watching()
    try:
        spread = a.broadcast.announce(timeout_s=30)
        assert spread["workers"] == 2 and spread["late"] == []
        assert spread["failed"] == ["worker 202: index at /x was built with model 'other'"]
    finally:
        b.broadcast.stop()


def test_a_silent_worker_is_reported_late_and_a_dead_one_is_ignored(run_dir):
    a = FakeWorker(run_dir, 301)
    FakeWorker(run_dir, 302)  # alive but not watching: it never acknowledges
    (run_dir / "ack-999999").write_text(json.dumps({"epoch": 0, "ok": True}))  # a worker that died
    spread = a.broadcast.announce(timeout_s=0.3)
    assert spread["workers"] == 2 and spread["late"] == [302] and spread["failed"] == []


def test_a_stopped_worker_leaves_no_acknowledgement(run_dir):
    w = FakeWorker(run_dir, 401)
    assert (run_dir / "ack-401").is_file()
    w.broadcast.stop()
    assert not (run_dir / "ack-401").exists()


def test_without_a_run_folder_there_is_no_broadcast(monkeypatch):
    monkeypatch.delenv("KB_RUN_DIR", raising=False)
    assert workers.run_dir() is None
    monkeypatch.setenv("KB_RUN_DIR", os.sep + "tmp")
    assert str(workers.run_dir()) == os.sep + "tmp"


class _FakeKB:
    """Stands for a KnowledgeBase (the index itself is not what this test is about)."""

    def __init__(self, build: str, gate: threading.Event | None = None) -> None:
        self.build = build
        self.gate = gate
        self.embedder = None

    def load(self):
        if self.gate is not None:
            assert self.gate.wait(30), "the test never released the start-up load"
        return self

    def warm_up(self) -> None:
        pass

    def documents(self) -> list:
        return []

    def info(self) -> dict:
        return {"build": self.build, "counts": {"total": 1}}


def test_a_reload_during_the_start_up_load_is_not_undone_by_it(tmp_path, monkeypatch):
    from kb_service.api.deps import Service
    from kb_service.config import Settings

    service = Service(Settings(index=tmp_path / "no-index"))
    gate = threading.Event()
    made = iter([_FakeKB("start-up", gate), _FakeKB("reloaded")])
    monkeypatch.setattr(service, "_new_kb", lambda embedder=None: next(made))
    loading = threading.Thread(target=service._load_at_start)
    loading.start()
    service.reload()  # another worker's broadcast, while the start-up load is still reading
    gate.set()
    loading.join(30)
    assert not loading.is_alive()
    assert service.serving.kb.build == "reloaded" and service.load_error is None
    assert service.loaded.is_set()


def test_answer_threads_unset_mean_the_event_loop_in_a_worker_of_several_and_two_alone(monkeypatch, tmp_path):
    from kb_service.api.deps import AUTO_THREADS_ALONE, Service
    from kb_service.config import Settings

    monkeypatch.delenv("KB_RUN_DIR", raising=False)
    alone = Service(Settings(index=tmp_path))
    assert alone.answer_threads == AUTO_THREADS_ALONE == 2
    assert alone.executor is not None and alone.executor._max_workers == 2
    monkeypatch.setenv("KB_RUN_DIR", str(tmp_path))
    one_of_several = Service(Settings(index=tmp_path))
    assert one_of_several.answer_threads == 0 and one_of_several.executor is None
    chosen = Service(Settings(index=tmp_path, worker_threads=3))  # an explicit setting wins
    assert chosen.answer_threads == 3 and chosen.executor._max_workers == 3
    for service in (alone, chosen):
        service.executor.shutdown()
