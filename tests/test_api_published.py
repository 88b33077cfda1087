"""A replica serving a published folder: it notices a new build by polling CURRENT, loads it
beside the old one and switches; a corrupt or half-copied build is refused and the old one
keeps serving; the build served shows in /readyz, /metrics and every answer.

The real app (TestClient, its lifespan and its background watcher thread), the real index
of the corpus, real builds written by write_index and published by the store's own
functions (the `kb publish` CLI, with its quality gate, is tested in test_publish.py).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from kb_service.kb import onnx_model_dir
from kb_service.store.index import BUILDS_DIR, load_index
from kb_service.store.publish import copy_build, copy_tree_once, set_current

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import api_settings, rebuild, running_app  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

POLL_S = 0.1
SWITCH_TIMEOUT_S = 60.0  # bound for a poll, a verified load and a warm-up on a busy machine


def new_build(source_root: Path, scratch: Path) -> Path:
    """Another real build of the same chunks and vectors (write_index, no embedding)."""
    return rebuild(source_root, scratch)


def publish(build_dir: Path, shared: Path) -> str:
    copy, _ = copy_build(build_dir, shared)
    set_current(shared, copy.name)
    return copy.name


def wait_for(condition, what: str, timeout_s: float = SWITCH_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # a poll interval: the condition itself is what is waited for
    raise AssertionError(f"timed out waiting for {what}")


def build_gauge(metrics: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r'kb_index_build_info\{build="([^"]+)"\} ([\d.]+)', metrics)}


@pytest.fixture
def shared(api_index: Path, tmp_path: Path) -> Path:
    """A published folder holding the session index's build and its query model export."""
    folder = tmp_path / "shared"
    model = load_index(api_index, verify=False).manifest["model"]
    settings = api_settings(api_index)
    exported = onnx_model_dir(api_index, model, settings.onnx_quantize)
    copy_tree_once(exported, onnx_model_dir(folder, model, settings.onnx_quantize))
    publish(load_index(api_index, verify=False).build_dir, folder)
    return folder


def test_a_replica_switches_to_a_new_build_and_refuses_broken_ones(shared: Path, api_index: Path, tmp_path: Path):
    first = (shared / "CURRENT").read_text().strip()
    with running_app(api_settings(shared, poll_s=POLL_S)) as client:
        ready = client.get("/readyz").json()
        assert ready == {"status": "ready", "build": first}
        assert client.post("/v1/ask", json={"question": "which approach for cart abandonment?"}).json()["index_build"] == first
        assert build_gauge(client.get("/metrics").text) == {first: 1.0}

        # A new build: noticed by the poll, loaded, reported everywhere.
        second = publish(new_build(api_index, tmp_path / "scratch"), shared)
        wait_for(lambda: client.get("/readyz").json()["build"] == second, "the replica to serve the new build")
        answer = client.post("/v1/ask", json={"question": "quelle approche pour une newsletter ?"}).json()
        assert answer["index_build"] == second
        chat = client.post("/v1/chat", json={"messages": [{"role": "user", "content": "and for a newsletter?"}]}).json()
        assert chat["index_build"] == second
        completion = client.post("/v1/chat/completions", json={"model": "kb", "messages": [
            {"role": "user", "content": "which approach for cart abandonment?"}]}).json()
        assert completion["system_fingerprint"] == second
        assert build_gauge(client.get("/metrics").text) == {first: 0.0, second: 1.0}

        # A corrupt build (one byte changed, same size): refused, the second keeps serving.
        corrupt = new_build(api_index, tmp_path / "scratch")
        copy, _ = copy_build(corrupt, shared)
        vectors = copy / "vectors.npy"
        data = bytearray(vectors.read_bytes())
        data[-1] ^= 0xFF
        vectors.write_bytes(bytes(data))
        set_current(shared, copy.name)
        refused = wait_for(lambda: client.get("/readyz").json().get("refused"), "the corrupt build to be refused")
        assert refused["build"] == copy.name and "sha256" in refused["error"] and "vectors.npy" in refused["error"]
        assert client.get("/readyz").json()["build"] == second
        assert client.post("/v1/ask", json={"question": "which approach for a newsletter?"}).json()["index_build"] == second
        set_current(shared, second)  # rolled back: nothing is refused any more
        wait_for(lambda: "refused" not in client.get("/readyz").json(), "the refusal to be forgotten")

        # A half-copied build (a file still missing): refused; once the copy completes it loads.
        half = new_build(api_index, tmp_path / "scratch")
        target = shared / BUILDS_DIR / half.name
        shutil.copytree(half, target, ignore=shutil.ignore_patterns("dense.faiss"))
        set_current(shared, half.name)
        refused = wait_for(lambda: (client.get("/readyz").json().get("refused") or {}).get("build") == half.name
                           and client.get("/readyz").json()["refused"], "the half-copied build to be refused")
        assert "dense.faiss is missing" in refused["error"]
        assert client.get("/readyz").json()["build"] == second
        shutil.copy2(half / "dense.faiss", target / "dense.faiss")
        wait_for(lambda: client.get("/readyz").json()["build"] == half.name, "the completed build to load")
        assert "refused" not in client.get("/readyz").json()
        metrics = client.get("/metrics").text
        assert 'kb_reloads_total{result="failure"} 2.0' in metrics
        assert 'kb_reloads_total{result="success"} 2.0' in metrics


def test_without_polling_a_published_build_waits_for_the_admin_reload(shared: Path, api_index: Path, tmp_path: Path):
    first = (shared / "CURRENT").read_text().strip()
    with running_app(api_settings(shared, admin_key="publish-admin")) as client:
        second = publish(new_build(api_index, tmp_path / "scratch"), shared)
        assert client.get("/readyz").json()["build"] == first  # no watcher: nothing moves by itself
        reloaded = client.post("/v1/admin/reload", headers={"X-Admin-Key": "publish-admin"})
        assert reloaded.status_code == 200 and reloaded.json()["build"] == second
        assert client.get("/readyz").json()["build"] == second
