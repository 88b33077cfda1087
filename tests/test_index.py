"""The on-disk index: real files, real FAISS and bm25s; only the embeddings are fake."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from kb_service.store import index as index_module
from kb_service.store.dense import DenseIndex
from kb_service.store.index import (
    FORMAT_VERSION,
    IndexLoadError,
    IndexLockError,
    IndexWriteError,
    index_lock,
    load_index,
    read_manifest,
    write_index,
)
from kb_service.types import Chunk

REPO = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 16

TEXTS = [
    ("en", "paragraph", "Orchestrated campaigns target large audiences in batches."),
    ("fr", "paragraph", "Une campagne orchestrée cible une audience à grande échelle."),
    ("en", "list", "Cart abandonment journeys react to individual events."),
    ("fr", "faq", "Comment gérer l'abandon de panier ? Avec un parcours."),
    ("en", "table_row", "Approach: API-triggered | Use: transactional messages"),
    ("fr", "callout", "Les paramètres des événements sont définis par l’administrateur."),
    ("en", "code", "curl -X POST https://example.test/campaigns/trigger"),
]


def make_chunks(texts=TEXTS, tag: str = "a") -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{tag}-{i:04d}",
            source="docs",
            path=f"help/{lang}/page{i}.md",
            lang=lang,
            title=f"Page {i}",
            heading_path=("Top", f"Section {i}"),
            anchor=f"section-{i}",
            url=f"https://example.test/{lang}/page{i}#section-{i}",
            alt_url=None if i % 2 else f"https://example.test/other/page{i}",
            line_start=i + 1,
            line_end=i + 3,
            kind=kind,
            text=text,
            embed_text=f"Page {i} > Section {i}\n{text}",
            cells=(("Approach", "API-triggered"),) if kind == "table_row" else (),
            group=f"g{i // 2}",
        )
        for i, (lang, kind, text) in enumerate(texts)
    ]


def make_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write(root: Path, tag: str = "a", seed: int = 0, **extra) -> Path:
    chunks = make_chunks(tag=tag)
    manifest = {"model": MODEL, "chunking": {"max_tokens": 256}, "writer": tag, **extra}
    return write_index(root, chunks=chunks, vectors=make_vectors(len(chunks), seed=seed), manifest=manifest)


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "index"
    root.mkdir()
    (root / "README.md").write_text("This directory holds the kb index.\n")
    return root


def build_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "builds").iterdir())


def corrupt_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- round trip


def test_round_trip(root):
    build = write(root, dense_note="x")
    loaded = load_index(root, expected_model=MODEL)
    chunks = make_chunks()

    assert loaded.build_dir == build and loaded.root == root
    assert (root / "CURRENT").read_text().strip() == build.name
    assert loaded.chunks == chunks
    np.testing.assert_array_equal(loaded.vectors, make_vectors(len(chunks)))
    assert loaded.vectors.dtype == np.float32
    assert loaded.row_of("a-0003") == 3
    with pytest.raises(KeyError):
        loaded.row_of("nope")

    # Dense rows are chunk rows.
    scores, rows = loaded.dense.search(loaded.vectors[4], 3)
    assert rows[0] == 4 and loaded.dense.kind == "flat"

    # Lexical rows map back to global rows of the right language.
    assert sorted(loaded.lexical) == ["en", "fr"]
    assert loaded.lexical_rows["fr"].tolist() == [1, 3, 5]
    assert loaded.lexical_rows["en"].tolist() == [0, 2, 4, 6]
    lex_rows, _ = loaded.lexical["fr"].search("campagnes orchestrées", 5)
    assert [loaded.chunks[r].chunk_id for r in loaded.lexical_rows["fr"][lex_rows]] == ["a-0001"]
    lex_rows, _ = loaded.lexical["fr"].search("l'abandon", 5)
    assert loaded.chunks[loaded.lexical_rows["fr"][lex_rows[0]]].chunk_id == "a-0003"

    m = loaded.manifest
    assert m["model"] == MODEL and m["chunking"] == {"max_tokens": 256} and m["dense_note"] == "x"
    assert m["format_version"] == FORMAT_VERSION and m["created_at"].endswith("Z")
    assert m["dim"] == DIM and m["dense"] == {"kind": "flat", "size": 7}
    assert m["chunk_counts"]["total"] == 7
    assert m["chunk_counts"]["by_lang"] == {"en": 4, "fr": 3}
    assert m["chunk_counts"]["by_kind"]["paragraph"] == 2
    assert {"chunks.jsonl", "vectors.npy", "dense.faiss", "lexical-en/kb_lexical.json"} <= set(m["artifacts"])
    assert read_manifest(root) == m
    assert (root / "README.md").exists()


def test_hnsw_build_round_trip(root):
    chunks = make_chunks()
    write_index(root, chunks=chunks, vectors=make_vectors(7), manifest={"model": MODEL}, dense_kind="hnsw")
    loaded = load_index(root)
    assert loaded.dense.kind == "hnsw" and loaded.manifest["dense"]["kind"] == "hnsw"
    assert loaded.dense.search(loaded.vectors[2], 1)[1].tolist() == [2]


def test_single_language_index_has_only_that_lexical(root):
    chunks = make_chunks([t for t in TEXTS if t[0] == "en"])
    write_index(root, chunks=chunks, vectors=make_vectors(len(chunks)), manifest={"model": MODEL})
    loaded = load_index(root)
    assert list(loaded.lexical) == ["en"] and list(loaded.lexical_rows) == ["en"]


def test_no_pickle_anywhere(root):
    build = write(root)
    for path in build.rglob("*.npy"):
        array = np.load(path, allow_pickle=False)  # raises if an object array was pickled
        assert array.dtype != object


# ---------------------------------------------------------------- refusing to load


def test_missing_index(tmp_path):
    for root in (tmp_path / "absent", tmp_path):
        with pytest.raises(IndexLoadError, match=r"no index at .*run `kb ingest`"):
            load_index(root)
        assert read_manifest(root) is None


def test_current_missing_but_builds_exist(root):
    write(root)
    (root / "CURRENT").unlink()
    with pytest.raises(IndexLoadError, match=r"CURRENT is missing but .* holds builds.*kb ingest"):
        load_index(root)
    assert read_manifest(root) is None


def test_corrupt_current_pointer(root):
    write(root)
    (root / "CURRENT").write_text("../../etc\n")
    with pytest.raises(IndexLoadError, match="CURRENT is corrupt"):
        load_index(root)
    write(root, tag="b")  # a rebuild repairs it
    assert load_index(root).manifest["writer"] == "b"


def test_current_points_to_missing_build(root):
    build = write(root)
    shutil.rmtree(build)
    with pytest.raises(IndexLoadError, match="does not exist"):
        load_index(root)


def test_wrong_model(root):
    write(root)
    with pytest.raises(IndexLoadError) as info:
        load_index(root, expected_model="intfloat/multilingual-e5-small")
    message = str(info.value)
    assert MODEL in message and "intfloat/multilingual-e5-small" in message and "kb ingest" in message


def test_wrong_format_version(root):
    build = write(root)
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (build / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError) as info:
        load_index(root)
    message = str(info.value)
    assert f"format version {FORMAT_VERSION + 1}" in message and f"format {FORMAT_VERSION}" in message
    assert "kb ingest" in message


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"format_version": %d}' % FORMAT_VERSION])
def test_corrupt_manifest(root, content):
    build = write(root)
    (build / "manifest.json").write_bytes(content)
    with pytest.raises(IndexLoadError, match="manifest.json"):
        load_index(root)


def test_checksum_corruption_of_each_artifact_names_the_file(root, tmp_path):
    build = write(root)
    artifacts = json.loads((build / "manifest.json").read_text())["artifacts"]
    assert len(artifacts) >= 15  # chunks, vectors, dense, 2 x 6 lexical files
    for rel in artifacts:
        copy = tmp_path / f"copy-{rel.replace('/', '_')}"
        shutil.copytree(root, copy)
        target = copy / "builds" / build.name / rel
        corrupt_byte(target)
        with pytest.raises(IndexLoadError) as info:
            load_index(copy)
        assert str(target) in str(info.value), rel
        assert "sha256" in str(info.value) and "kb ingest" in str(info.value)


@pytest.mark.parametrize("rel", ["dense.faiss", "vectors.npy", "chunks.jsonl", "lexical-fr/vocab.index.json"])
@pytest.mark.parametrize("verify", [True, False])
def test_truncated_artifact(root, rel, verify):
    build = write(root)
    path = build / rel
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(IndexLoadError, match="truncated") as info:
        load_index(root, verify=verify)
    assert str(path) in str(info.value)


def test_deleted_artifact(root):
    build = write(root)
    (build / "lexical-en" / "params.index.json").unlink()
    with pytest.raises(IndexLoadError, match=r"lexical-en/params.index.json is missing"):
        load_index(root)


def _rewrite_with_matching_checksum(build: Path, rel: str, data: bytes) -> None:
    """Replace an artifact and update the manifest, so only parsing can catch the garbage."""
    (build / rel).write_bytes(data)
    manifest_path = build / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"][rel] = {"sha256": index_module._sha256(build / rel), "bytes": len(data)}
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "rel",
    [
        "dense.faiss",
        "vectors.npy",
        "chunks.jsonl",
        "lexical-en/vocab.index.json",
        "lexical-en/data.csc.index.npy",
        "lexical-fr/kb_lexical.json",
    ],
)
def test_garbage_with_valid_checksum_is_wrapped(root, rel):
    """faiss/numpy/json errors never leak as raw exceptions: IndexLoadError naming the file."""
    build = write(root)
    _rewrite_with_matching_checksum(build, rel, b"\x00garbage\xffnot-an-artifact" * 3)
    with pytest.raises(IndexLoadError) as info:
        load_index(root)
    assert rel.split("/")[0] in str(info.value) and "kb ingest" in str(info.value)


def test_mismatched_rows_are_refused(root):
    build = write(root)
    other = DenseIndex.build(make_vectors(3))
    other.save(build / "tmp.faiss")
    _rewrite_with_matching_checksum(build, "dense.faiss", (build / "tmp.faiss").read_bytes())
    with pytest.raises(IndexLoadError, match=r"dense.faiss holds 3x16 vectors, expected 7x16"):
        load_index(root)


# ---------------------------------------------------------------- atomic swap and crashes


def test_leftovers_of_a_crash_are_ignored_then_swept(root):
    first = write(root, tag="a")
    # A crashed writer: a tmp dir, and a renamed but half-written newer build.
    junk_tmp = root / "builds" / ".tmp-999999999-20990101T000000000000Z-abcdef"
    junk_tmp.mkdir()
    (junk_tmp / "vectors.npy").write_bytes(b"partial")
    half = root / "builds" / "20990101T000000000000Z-abcdef"
    half.mkdir()
    (half / "chunks.jsonl").write_text("{}\n")
    stray_pointer = root / ".tmp-CURRENT-999999999-abcdef"
    stray_pointer.write_text(half.name)

    loaded = load_index(root)
    assert loaded.build_dir == first and loaded.manifest["writer"] == "a"

    second = write(root, tag="b")
    assert build_dirs(root) == sorted([first.name, second.name])  # leftovers gone, previous kept
    assert not stray_pointer.exists()
    third = write(root, tag="c")
    assert build_dirs(root) == sorted([second.name, third.name])  # older than previous: deleted
    assert load_index(root).manifest["writer"] == "c"
    assert (root / "README.md").read_text() == "This directory holds the kb index.\n"


def test_previous_build_stays_readable_after_a_swap(root):
    write(root, tag="a")
    reader = load_index(root)  # a server holding the old build
    write(root, tag="b")
    assert reader.build_dir.exists()
    assert reader.dense.search(reader.vectors[0], 1)[1].tolist() == [0]
    assert np.asarray(reader.vectors).shape == (7, DIM)


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from kb_service.store.index import write_index
    from kb_service.types import Chunk

    root = Path(sys.argv[1])
    n, dim = 6000, 384
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = ["campaign", "journey", "audience", "profile", "segment", "event", "trigger", "offer"]
    chunks = [
        Chunk(chunk_id=f"child-{i}", source="docs", path=f"p{i}.md", lang="en" if i % 3 else "fr",
              title="t", heading_path=("h",), anchor="a", url="u", alt_url=None, line_start=1,
              line_end=1, kind="paragraph", text=" ".join(words[(i + j) % 8] for j in range(60)),
              embed_text=" ".join(words[(i * j) % 8] for j in range(60)))
        for i in range(n)
    ]
    while True:
        write_index(root, chunks=chunks, vectors=vectors, manifest={"model": "m", "writer": "child"})
    """
)


@pytest.mark.parametrize("phase", ["", "vectors.npy", "dense.faiss", "lexical-fr"])
def test_sigkill_during_write_leaves_a_loadable_index(root, phase):
    """Kill -9 a writer once its tmp build dir (or a given file in it) exists."""
    first = write(root, tag="parent")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], env=env, stderr=subprocess.PIPE)
    builds = root / "builds"
    try:
        deadline = time.monotonic() + 60
        while not list(builds.glob(f".tmp-{child.pid}-*/{phase}")):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "child never started writing"
            time.sleep(0.001)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    loaded = load_index(root, verify=True)  # whichever build is current is whole
    if loaded.build_dir == first:
        assert [c.chunk_id for c in loaded.chunks] == [c.chunk_id for c in make_chunks(tag="parent")]
    else:
        assert loaded.manifest["writer"] == "child" and len(loaded.chunks) == 6000
    assert any(p.name.startswith(".tmp-") for p in builds.iterdir())  # the killed write's leftovers

    latest = write(root, tag="after")
    assert not any(p.name.startswith(".tmp-") for p in builds.iterdir())
    assert not list(root.glob(".tmp-*"))
    assert latest.name in build_dirs(root) and len(build_dirs(root)) <= 2
    assert load_index(root).manifest["writer"] == "after"


# ---------------------------------------------------------------- write failures


def test_root_under_a_file_gives_clear_write_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(IndexWriteError) as info:
        write(blocker / "index")
    assert isinstance(info.value, OSError)
    assert str(blocker / "index") in str(info.value)


def test_disk_full_at_the_swap_keeps_previous_and_cleans_up(root, monkeypatch):
    first = write(root, tag="a")

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(index_module.os, "replace", full)
    with pytest.raises(IndexWriteError) as info:
        write(root, tag="b")
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert "No space left on device" in str(info.value) and "unchanged" in str(info.value)
    assert build_dirs(root) == [first.name]  # new build removed, no tmp left
    assert not list(root.glob(".tmp-*"))
    assert load_index(root).manifest["writer"] == "a"


def test_faiss_failure_while_writing_keeps_previous_and_cleans_up(root, monkeypatch):
    first = write(root, tag="a")

    def broken_save(self, path):
        raise RuntimeError("Error in faiss::FileIOWriter: No space left on device")

    monkeypatch.setattr(DenseIndex, "save", broken_save)
    with pytest.raises(IndexWriteError, match="No space left"):
        write(root, tag="b")
    assert build_dirs(root) == [first.name]
    assert load_index(root).manifest["writer"] == "a"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_read_only_root(root):
    first = write(root, tag="a")
    os.chmod(root / "builds", 0o555)
    os.chmod(root, 0o555)
    try:
        with pytest.raises(IndexWriteError):
            write(root, tag="b")
    finally:
        os.chmod(root, 0o755)
        os.chmod(root / "builds", 0o755)
    assert load_index(root).build_dir == first


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c, v, m: (c + [c[0]], np.vstack([v, v[:1]]), m), "duplicate chunk_id"),
        (lambda c, v, m: (c, v * 2, m), "L2-normalised"),
        (lambda c, v, m: (c, v[:3], m), "shape"),
        (lambda c, v, m: (c, v, {}), "model"),
        (lambda c, v, m: (c, v, {**m, "artifacts": 1}), "reserved"),
        (lambda c, v, m: (c, v, {**m, "bad": object()}), "JSON"),
        (lambda c, v, m: ([], v[:0], m), "no chunks"),
    ],
)
def test_invalid_input_writes_nothing(root, change, message):
    chunks, vectors, manifest = change(make_chunks(), make_vectors(7), {"model": MODEL})
    with pytest.raises(ValueError, match=message):
        write_index(root, chunks=chunks, vectors=vectors, manifest=manifest)
    assert not (root / "builds").exists() or build_dirs(root) == []
    assert read_manifest(root) is None


# ---------------------------------------------------------------- lock


def test_index_lock_is_exclusive_and_released(root):
    with index_lock(root):
        with pytest.raises(IndexLockError, match=rf"another ingest is running \(pid {os.getpid()}\)"):
            with index_lock(root):
                pass
        write(root)  # writing while holding the lock is the normal case
    with index_lock(root):  # released
        pass


def test_index_lock_excludes_another_process(root):
    code = "import sys; from kb_service.store.index import index_lock\nwith index_lock(sys.argv[1]): pass"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with index_lock(root):
        busy = subprocess.run([sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True)
    assert busy.returncode != 0 and "another ingest is running" in busy.stderr
    free = subprocess.run([sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True)
    assert free.returncode == 0, free.stderr


def test_tmp_dir_of_a_live_writer_is_not_swept(root):
    # A writer that did not take the lock (another live process) keeps its tmp dir.
    live = root / "builds" / f".tmp-{os.getppid()}-20990101T000000000000Z-abcdef"
    live.mkdir(parents=True)
    write(root)
    assert live.exists()
    dead = root / "builds" / ".tmp-999999999-20990101T000000000000Z-abcdef"
    dead.mkdir()
    write(root, tag="b")
    assert live.exists() and not dead.exists()
