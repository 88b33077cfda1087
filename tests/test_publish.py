"""`kb publish` on the real index with the real model: the first publish as a real process,
the others through the same CLI in this process (typer's runner: no interpreter start-up).

A build is copied to the shared folder and verified there before CURRENT moves; the
question sets are replayed on the new build and the current one, and a build that answers
worse is refused (what changed is printed) unless --force; a corrupt build is never
published, --force or not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb_service.cli import app
from kb_service.store.index import BUILDS_DIR, load_index, verify_build

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import rebuild  # noqa: E402
from .conftest import DEV_SET, needs_shared_corpus

pytest_plugins = ["tests.api_fixtures"]
pytestmark = needs_shared_corpus

KB = [sys.executable, "-m", "kb_service.cli"]
GUIDE = "help/using/start/journeys-vs-campaigns.md"  # the page most dev questions are answered from


def kb(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_") or k == "KB_CACHE_DIR"}
    return subprocess.run([*KB, *args], capture_output=True, text=True, env={**env, "HF_HUB_OFFLINE": "1"},
                          timeout=300)


def kb_here(*args: str):
    """The same command, in this process; ``.exit_code``, ``.stdout``, ``.stderr``."""
    return CliRunner().invoke(app, list(args))


def current(shared: Path) -> str:
    return (shared / "CURRENT").read_text().strip()


def builds(shared: Path) -> list[str]:
    return sorted(p.name for p in (shared / BUILDS_DIR).iterdir() if not p.name.startswith("."))


def build_without_guide(source: Path, root: Path) -> Path:
    """A real build of the index minus its comparison guide: answers get worse."""
    return rebuild(source, root, drop=lambda lang, path: path == GUIDE)


@pytest.fixture(scope="module")
def first_publish(api_index: Path, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The session's index published into an empty folder, with the default question sets.

    Module-scoped: each test below leaves CURRENT on this build when it ends."""
    shared = tmp_path_factory.mktemp("publish") / "shared"
    return shared, kb("publish", str(api_index), "--to", str(shared))


@pytest.fixture
def published(first_publish) -> Path:
    shared, done = first_publish
    assert done.returncode == 0, done.stderr
    return shared


def test_a_first_publish_copies_verifies_and_moves_current(first_publish, api_index: Path):
    shared, done = first_publish
    assert done.returncode == 0, done.stderr
    name = load_index(api_index, verify=False).build_dir.name
    assert current(shared) == name and builds(shared) == [name]
    verify_build(shared / BUILDS_DIR / name)  # every artifact's sha256, on the copy
    assert list((shared / "onnx").glob("*/model.onnx")), "the query model's export is published beside the build"
    assert "dev.jsonl (25 questions): nothing published" in done.stdout
    assert "questions.jsonl" in done.stdout and "| Recall@5 | n/a |" in done.stdout
    assert f"published {name}" in done.stdout


def test_a_worse_build_is_refused_with_what_changed_and_force_promotes_it(published: Path, api_index: Path,
                                                                          tmp_path: Path):
    good = current(published)
    worse = build_without_guide(api_index, tmp_path / "worse")
    refused = kb_here("publish", str(worse), "--to", str(published), "--questions", str(DEV_SET))
    assert refused.exit_code == 1, refused.stdout + refused.stderr
    assert "refused: answer quality dropped" in refused.stderr and "Recall@5 1.000 -> " in refused.stderr
    assert "now failing" in refused.stdout and "no relevant chunk in top 5" in refused.stdout
    assert current(published) == good and builds(published) == [good]  # nothing left behind

    forced = kb_here("publish", str(worse), "--to", str(published), "--questions", str(DEV_SET), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert current(published) == worse.name and "promoted anyway" in forced.stderr

    # Rolling back: the good build is still in the folder, verified again and compared.
    back = kb_here("publish", str(published / BUILDS_DIR / good), "--to", str(published), "--questions", str(DEV_SET))
    assert back.exit_code == 0, back.stderr
    assert current(published) == good and "already in" in back.stderr and "now passing" in back.stdout


def test_a_corrupt_build_is_never_published(published: Path, api_index: Path, tmp_path: Path):
    good, before = current(published), builds(published)
    build = build_without_guide(api_index, tmp_path / "other")
    chunks = build / "chunks.jsonl"
    data = bytearray(chunks.read_bytes())
    data[10] ^= 0x01  # same size, different bytes: only the checksum can tell
    chunks.write_bytes(bytes(data))
    done = kb_here("publish", str(build), "--to", str(published), "--force")
    assert done.exit_code == 1
    assert "does not verify" in done.stderr and "sha256" in done.stderr and "Traceback" not in done.stderr
    assert current(published) == good and builds(published) == before


def test_bad_arguments_are_named(published: Path, tmp_path: Path):
    missing = kb_here("publish", str(tmp_path / "nowhere"), "--to", str(published))
    assert missing.exit_code == 1 and "neither an index folder nor a build folder" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no language"}\n', encoding="utf-8")
    wrong = kb_here("publish", str(published), "--to", str(published), "--questions", str(bad))
    assert wrong.exit_code == 2 and "bad.jsonl" in wrong.stderr and "'lang'" in wrong.stderr
