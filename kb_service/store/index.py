"""The on-disk index: manifest, chunks, vectors, dense (FAISS) and lexical (BM25) artifacts.

Layout under ``root``::

    root/CURRENT                      one line: the name of the build in use
    root/.ingest.lock                 flock'ed by ``index_lock`` while an ingest runs
    root/builds/<build>/manifest.json caller's fields + format, checksums, counts
    root/builds/<build>/chunks.jsonl  one Chunk.to_json() per line; line i = row i
    root/builds/<build>/vectors.npy   (n, dim) float32, L2-normalised; row i = chunk i
    root/builds/<build>/unit_vectors.npy  (u, dim) float32: every chunk's answer units
                                      (Chunk.units), in chunk order then unit order
    root/builds/<build>/dense.faiss   DenseIndex over the same rows
    root/builds/<build>/lexical-<lang>/  LexicalIndex over that language's chunks, in row order

Crash safety: a build is written into ``builds/.tmp-…``, every file and directory fsynced,
renamed to its final name, and only then is CURRENT replaced (tmp file, fsync, os.replace,
fsync dir). Until that os.replace, readers see the previous build; after it, the new one.
A ``kill -9`` at any point therefore leaves a loadable index. Leftovers are swept by the
next successful write, which keeps the current and the previous build (a server may still
be reading the previous one). Nothing outside ``builds/``, CURRENT and the lock is touched,
so files such as ``root/README.md`` are safe. No pickle anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from filelock import FileLock, Timeout

from kb_service.store.dense import DenseIndex
from kb_service.store.lexical import LexicalIndex
from kb_service.types import Chunk

# 2: chunks carry their answer units, each with a vector (unit_vectors.npy).
FORMAT_VERSION = 2

CURRENT_NAME = "CURRENT"
BUILDS_DIR = "builds"
LOCK_NAME = ".ingest.lock"
MANIFEST_NAME = "manifest.json"
CHUNKS_NAME = "chunks.jsonl"
VECTORS_NAME = "vectors.npy"
UNIT_VECTORS_NAME = "unit_vectors.npy"
DENSE_NAME = "dense.faiss"
LEXICAL_PREFIX = "lexical-"
TMP_PREFIX = ".tmp-"

# Keys write_index adds to the caller's manifest; a caller using one is refused, not overwritten.
RESERVED_KEYS = ("format_version", "created_at", "build", "dim", "dense", "artifacts", "chunk_counts")

# 20250101T120000123456Z-1a2b3c: sorts chronologically, cannot contain a path separator.
_BUILD_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{6}$")
_TMP_NAME = re.compile(r"^\.tmp-(?P<pid>\d+)-")

REBUILD_HINT = "run `kb ingest` to rebuild"


class IndexLoadError(Exception):
    """The index cannot be used; the message names the file, what is wrong, and the fix."""


class IndexWriteError(OSError):
    """Writing a new build failed (disk full, read-only, …); the previous build is untouched."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_

    def __str__(self) -> str:
        return str(self.args[0])


class IndexLockError(RuntimeError):
    """Another ingest holds the index lock."""


@dataclass
class LoadedIndex:
    """A verified build, ready to search. Rows line up across chunks, vectors and dense."""

    root: Path
    build_dir: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    vectors: np.ndarray  # (n, dim) float32, read-only, in memory (not mapped: see _load_vectors)
    dense: DenseIndex
    lexical: dict[str, LexicalIndex]  # only languages that have chunks
    lexical_rows: dict[str, np.ndarray]  # per language: lexical row -> global chunk row
    # (u, dim) float32: the vectors of every chunk's units, chunk after chunk.
    unit_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    _row_by_id: dict[str, int] = field(init=False, repr=False)
    _unit_start: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._row_by_id = {chunk.chunk_id: row for row, chunk in enumerate(self.chunks)}
        self._unit_start = {}
        start = 0
        for chunk in self.chunks:
            self._unit_start[chunk.chunk_id] = start
            start += len(chunk.units)

    def unit_vectors_for(self, chunks: list[Chunk]) -> np.ndarray:
        """The unit vectors of ``chunks`` (chunks of this build), in order: what write_index
        needs to write a new build from some of this one's chunks."""
        parts = [self.units_of(c.chunk_id) for c in chunks]
        return np.concatenate(parts) if parts else np.zeros((0, self.vectors.shape[1]), dtype=np.float32)

    def units_of(self, chunk_id: str) -> np.ndarray:
        """The vectors of ``chunk_id``'s units, one row per ``Chunk.units`` entry."""
        chunk = self.chunks[self._row_by_id[chunk_id]]
        start = self._unit_start[chunk_id]
        return self.unit_vectors[start : start + len(chunk.units)]

    def row_of(self, chunk_id: str) -> int:
        """Global row of ``chunk_id``; KeyError if it is not in this build."""
        return self._row_by_id[chunk_id]


# ---------------------------------------------------------------- writing


def write_index(
    root: Path,
    *,
    chunks: list[Chunk],
    vectors: np.ndarray,
    manifest: dict[str, Any],
    dense_kind: str = "auto",
    unit_vectors: np.ndarray | None = None,
) -> Path:
    """Write a new build under ``root`` and make it current atomically; return its directory.

    ``manifest`` holds the caller's fields and must include ``model`` (the embedding model
    name); this function adds format_version, created_at, build, dim, dense, artifacts and
    chunk_counts. Raises ValueError for bad input (nothing written) and IndexWriteError
    (an OSError) when the disk refuses; in both cases the previous build stays current.
    Callers should hold ``index_lock(root)``.
    """
    root = Path(root)
    vectors = _check_inputs(chunks, vectors, manifest)
    unit_vectors = _check_unit_vectors(chunks, unit_vectors, vectors.shape[1])
    full_manifest = dict(manifest)
    try:
        json.dumps(full_manifest)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"manifest is not JSON-serialisable: {exc}") from exc

    builds = root / BUILDS_DIR
    now = datetime.now(timezone.utc)
    name = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)
    tmp = builds / f"{TMP_PREFIX}{os.getpid()}-{name}"
    final = builds / name
    renamed = swapped = False
    try:
        builds.mkdir(parents=True, exist_ok=True)
        try:
            previous = _read_current_name(root)
        except IndexLoadError:
            previous = None  # a corrupt pointer must not block the rebuild that repairs it
        tmp.mkdir()
        artifacts = _write_artifacts(tmp, chunks, vectors, dense_kind, unit_vectors)
        dense_meta = artifacts.pop("_dense")
        full_manifest.update(
            format_version=FORMAT_VERSION,
            created_at=now.isoformat().replace("+00:00", "Z"),
            build=name,
            dim=int(vectors.shape[1]),
            dense=dense_meta,
            artifacts=artifacts,
            chunk_counts=_chunk_counts(chunks),
        )
        _write_file(tmp / MANIFEST_NAME, (json.dumps(full_manifest, indent=2, ensure_ascii=False) + "\n").encode())
        for directory in sorted({p.parent for p in tmp.rglob("*")} | {tmp}):
            _fsync_dir(directory)
        os.rename(tmp, final)
        renamed = True
        _fsync_dir(builds)
        pointer = root / f"{TMP_PREFIX}{CURRENT_NAME}-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            _write_file(pointer, (name + "\n").encode())
            os.replace(pointer, root / CURRENT_NAME)  # the commit point
            swapped = True
        finally:
            if not swapped:
                with contextlib.suppress(OSError):
                    pointer.unlink()
        _fsync_dir(root)
    except BaseException as exc:
        if not swapped:
            shutil.rmtree(final if renamed else tmp, ignore_errors=True)
        if not isinstance(exc, (OSError, RuntimeError)):
            raise
        # RuntimeError: faiss reports I/O failures (e.g. ENOSPC in write_index) this way.
        code = getattr(exc, "errno", None) or None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = getattr(exc, "filename", None) or root
        state = (
            f"the new build {final} is current but may not be durable yet"
            if swapped
            else "the previous index, if any, is unchanged"
        )
        raise IndexWriteError(f"could not write the index under {root} ({where}): {reason}; {state}", code) from exc
    _sweep(builds, keep={name, previous})
    return final


def _check_inputs(chunks: list[Chunk], vectors: np.ndarray, manifest: dict[str, Any]) -> np.ndarray:
    if not chunks:
        raise ValueError("no chunks to index")
    model = manifest.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("manifest must name the embedding model: manifest['model'] = '<model name>'")
    clash = [key for key in RESERVED_KEYS if key in manifest]
    if clash:
        raise ValueError(f"manifest keys {clash} are reserved for write_index; rename them")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
        raise ValueError(f"vectors must have shape ({len(chunks)}, dim), got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinity")
    norms = np.linalg.norm(vectors, axis=1)
    if np.abs(norms - 1.0).max() > 1e-3:
        raise ValueError("vectors must be L2-normalised (cosine = inner product)")
    ids: set[str] = set()
    for chunk in chunks:
        if chunk.chunk_id in ids:
            raise ValueError(f"duplicate chunk_id {chunk.chunk_id!r} ({chunk.path})")
        ids.add(chunk.chunk_id)
    return vectors


def _check_unit_vectors(chunks: list[Chunk], unit_vectors: np.ndarray | None, dim: int) -> np.ndarray:
    total = sum(len(c.units) for c in chunks)
    if unit_vectors is None:
        if total:
            raise ValueError(f"the chunks hold {total} units but no unit_vectors were given")
        return np.zeros((0, dim), dtype=np.float32)
    unit_vectors = np.ascontiguousarray(unit_vectors, dtype=np.float32)
    if unit_vectors.shape != (total, dim):
        raise ValueError(f"unit_vectors must have shape ({total}, {dim}), got {unit_vectors.shape}")
    if not np.isfinite(unit_vectors).all():
        raise ValueError("unit_vectors contain NaN or infinity")
    return unit_vectors


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def _write_artifacts(
    tmp: Path, chunks: list[Chunk], vectors: np.ndarray, dense_kind: str, unit_vectors: np.ndarray
) -> dict[str, Any]:
    lines = (json.dumps(c.to_json(), ensure_ascii=False) + "\n" for c in chunks)
    _write_file(tmp / CHUNKS_NAME, "".join(lines).encode("utf-8"))
    _save_array(tmp / VECTORS_NAME, vectors)
    _save_array(tmp / UNIT_VECTORS_NAME, unit_vectors)
    dense = DenseIndex.build(vectors, kind=dense_kind)
    dense.save(tmp / DENSE_NAME)
    _fsync_file(tmp / DENSE_NAME)
    for lang, rows in _rows_by_lang(chunks).items():
        lex = LexicalIndex.build([chunks[row].embed_text for row in rows], lang)
        lex_dir = tmp / f"{LEXICAL_PREFIX}{lang}"
        lex.save(lex_dir)
        for path in lex_dir.iterdir():
            _fsync_file(path)
    # Checksums are computed by reading back what is on disk, so they vouch for the bytes
    # a reader will see, not for what we meant to write.
    artifacts: dict[str, Any] = {
        path.relative_to(tmp).as_posix(): {"sha256": _sha256(path), "bytes": path.stat().st_size}
        for path in sorted(tmp.rglob("*"))
        if path.is_file()
    }
    artifacts["_dense"] = {"kind": dense.kind, "size": dense.size}
    return artifacts


def _rows_by_lang(chunks: list[Chunk]) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for row, chunk in enumerate(chunks):
        rows.setdefault(chunk.lang, []).append(row)
    return {lang: np.asarray(r, dtype=np.int64) for lang, r in sorted(rows.items())}


def _chunk_counts(chunks: list[Chunk]) -> dict[str, Any]:
    by_kind: dict[str, int] = {}
    by_lang: dict[str, int] = {}
    for chunk in chunks:
        by_kind[chunk.kind] = by_kind.get(chunk.kind, 0) + 1
        by_lang[chunk.lang] = by_lang.get(chunk.lang, 0) + 1
    return {"total": len(chunks), "by_kind": dict(sorted(by_kind.items())), "by_lang": dict(sorted(by_lang.items()))}


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers: this process is past writing them
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(builds: Path, keep: set[str | None]) -> None:
    """Delete interrupted writes and builds older than the previous one. Best effort."""
    with contextlib.suppress(OSError):
        _sweep_unsafe(builds, keep)


def _sweep_unsafe(builds: Path, keep: set[str | None]) -> None:
    root = builds.parent
    for path in root.glob(f"{TMP_PREFIX}{CURRENT_NAME}-*"):
        match = re.match(rf"^{re.escape(TMP_PREFIX + CURRENT_NAME)}-(\d+)-", path.name)
        if not match or not _pid_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                path.unlink()
    for path in builds.iterdir():
        if path.name.startswith(TMP_PREFIX):
            # A tmp dir of a live process is a concurrent writer's (callers without the lock).
            match = _TMP_NAME.match(path.name)
            if match and _pid_alive(int(match.group("pid"))):
                continue
        elif not _BUILD_NAME.match(path.name) or path.name in keep:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


# ---------------------------------------------------------------- locking


@contextlib.contextmanager
def index_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``root`` so two ingests never interleave.

    The lock is filelock's (an OS lock on ``.ingest.lock``, released when the process dies,
    even by SIGKILL); the holder's pid is written into the file so that the refusal can name it.
    """
    root = Path(root)
    path = root / LOCK_NAME
    lock = FileLock(str(path), timeout=0)
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        holder = ""
        with contextlib.suppress(OSError):
            holder = path.read_text(errors="replace").strip()
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise IndexLockError(
            f"another ingest is running{who}: it holds {path}. Wait for it to finish, then retry."
        ) from None
    except OSError as exc:  # a parent that is a file, a read-only or full disk: say so, change nothing
        reason = exc.strerror or str(exc)
        raise IndexWriteError(
            f"cannot use {root} as the index folder ({reason}: {exc.filename or path}); "
            "choose a writable folder (--index or KB_INDEX); nothing was changed",
            exc.errno,
        ) from exc
    try:
        with contextlib.suppress(OSError):
            path.write_text(f"{os.getpid()}\n")
        yield
    finally:
        with contextlib.suppress(OSError):
            path.write_text("")
        lock.release()


# ---------------------------------------------------------------- reading


def _read_current_name(root: Path) -> str | None:
    try:
        text = (root / CURRENT_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexLoadError(f"{root / CURRENT_NAME} cannot be read ({exc}): {REBUILD_HINT}") from exc
    name = text.strip()
    if not _BUILD_NAME.match(name):
        raise IndexLoadError(
            f"{root / CURRENT_NAME} is corrupt (expected a build name, found {name[:60]!r}): {REBUILD_HINT}"
        )
    return name


def _current_build_dir(root: Path) -> Path:
    name = _read_current_name(root)
    builds = root / BUILDS_DIR
    if name is None:
        has_builds = builds.is_dir() and any(_BUILD_NAME.match(p.name) for p in builds.iterdir())
        if has_builds:
            raise IndexLoadError(
                f"{root / CURRENT_NAME} is missing but {builds} holds builds: the index pointer was "
                f"lost, so which build is current is unknown; {REBUILD_HINT}"
            )
        raise IndexLoadError(f"no index at {root}: run `kb ingest`")
    build_dir = builds / name
    if not build_dir.is_dir():
        raise IndexLoadError(f"{root / CURRENT_NAME} points to {build_dir}, which does not exist: {REBUILD_HINT}")
    return build_dir


def _read_manifest_file(build_dir: Path) -> dict[str, Any]:
    path = build_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexLoadError(f"{path} is missing: {REBUILD_HINT}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexLoadError(f"{path} is unreadable or corrupt ({exc}): {REBUILD_HINT}") from exc
    if not isinstance(manifest, dict):
        raise IndexLoadError(f"{path} is corrupt (not a JSON object): {REBUILD_HINT}")
    return manifest


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The current build's manifest, without verifying artifacts; None if there is no index.

    None also when CURRENT is missing (the build in use is unknown: treat as no index).
    Raises IndexLoadError if CURRENT or the manifest exists but is corrupt.
    """
    root = Path(root)
    name = _read_current_name(root)
    if name is None or not (root / BUILDS_DIR / name).is_dir():
        return None
    return _read_manifest_file(root / BUILDS_DIR / name)


def current_build(root: Path) -> str | None:
    """The name CURRENT holds (None when there is no CURRENT); IndexLoadError if it is corrupt.

    Cheap (one small read): replicas poll it to notice a published build.
    """
    return _read_current_name(Path(root))


def verify_build(build_dir: Path, *, verify: bool = True, hashed_later: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check one build's manifest and every artifact it lists; return the manifest.

    Sizes are always checked, sha256 digests when ``verify`` (except for ``hashed_later``,
    files the caller hashes itself as it reads them). A half-copied build (a file
    missing or short) or a corrupt one (a digest that differs) raises IndexLoadError naming
    the file. ``kb publish`` runs it on its copy before moving CURRENT; ``load_index`` on
    the build it is about to load.
    """
    build_dir = Path(build_dir)
    manifest = _read_manifest_file(build_dir)
    manifest_path = build_dir / MANIFEST_NAME
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexLoadError(
            f"the index at {build_dir} has format version {version!r}, this version of kb reads "
            f"format {FORMAT_VERSION}: rebuild it with `kb ingest`"
        )
    listed, _, _, _ = _manifest_fields(manifest, manifest_path)
    for name in (CHUNKS_NAME, VECTORS_NAME, UNIT_VECTORS_NAME, DENSE_NAME):
        if name not in listed:
            raise IndexLoadError(f"{manifest_path} does not list {name}: {REBUILD_HINT}")
    for rel, (size, digest) in listed.items():
        path = build_dir / rel
        try:
            if not path.is_file():
                raise IndexLoadError(f"{path} is missing: {REBUILD_HINT}")
            actual = path.stat().st_size
            if actual != size:
                raise IndexLoadError(
                    f"{path} is truncated or corrupt ({actual} bytes, the manifest says {size}): {REBUILD_HINT}"
                )
            if verify and rel not in hashed_later and _sha256(path) != digest:
                raise IndexLoadError(f"{path} is corrupt (sha256 does not match the manifest): {REBUILD_HINT}")
        except OSError as exc:  # unreadable (permissions, I/O error): name the file, never a bare OSError
            raise IndexLoadError(f"{path} cannot be read ({exc.strerror or exc}): {REBUILD_HINT}") from exc
    return manifest


def _manifest_fields(manifest: dict[str, Any], path: Path) -> tuple[dict[str, tuple[int, str]], int, int, dict[str, int]]:
    """(artifacts as {path: (bytes, sha256)}, dim, total chunks, chunks by language)."""
    try:
        listed = {rel: (int(meta["bytes"]), str(meta["sha256"])) for rel, meta in manifest["artifacts"].items()}
        counts = manifest["chunk_counts"]
        by_lang = {str(k): int(v) for k, v in counts["by_lang"].items()}
        return listed, int(manifest["dim"]), int(counts["total"]), by_lang
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IndexLoadError(f"{path} is incomplete or corrupt ({exc!r}): {REBUILD_HINT}") from exc


def load_index(root: Path, *, expected_model: str | None = None, verify: bool = True) -> LoadedIndex:
    """Load and check the current build. ``verify`` also checks every artifact's sha256.

    Sizes, shapes and row counts are always checked. Any problem raises IndexLoadError
    naming the file and the fix.
    """
    root = Path(root)
    build_dir = _current_build_dir(root)
    # vectors.npy is hashed from the very bytes it is loaded from (_load_vectors).
    manifest = verify_build(build_dir, verify=verify, hashed_later=(VECTORS_NAME,))
    model = manifest.get("model")
    if expected_model is not None and model != expected_model:
        raise IndexLoadError(
            f"the index at {build_dir} was built with model {model!r}, but {expected_model!r} is "
            "configured: rebuild it with `kb ingest` (or configure the model it was built with)"
        )
    listed, dim, total, by_lang = _manifest_fields(manifest, build_dir / MANIFEST_NAME)

    chunks = _load_chunks(build_dir / CHUNKS_NAME)
    if len(chunks) != total:
        raise IndexLoadError(
            f"{build_dir / CHUNKS_NAME} holds {len(chunks)} chunks, the manifest says {total}: {REBUILD_HINT}"
        )
    vectors = _load_vectors(build_dir / VECTORS_NAME, (total, dim), listed[VECTORS_NAME][1] if verify else None)
    unit_total = sum(len(c.units) for c in chunks)
    unit_vectors = _load_unit_vectors(build_dir / UNIT_VECTORS_NAME, (unit_total, dim))
    dense = _load_part(build_dir / DENSE_NAME, DenseIndex.load)
    if dense.size != total or dense.dim != dim:
        raise IndexLoadError(
            f"{build_dir / DENSE_NAME} holds {dense.size}x{dense.dim} vectors, expected {total}x{dim}: {REBUILD_HINT}"
        )

    lexical_rows = _rows_by_lang(chunks)
    lexical: dict[str, LexicalIndex] = {}
    for lang, rows in lexical_rows.items():
        lex_dir = build_dir / f"{LEXICAL_PREFIX}{lang}"
        if not lex_dir.is_dir():
            raise IndexLoadError(f"{lex_dir} is missing: {REBUILD_HINT}")
        lex = _load_part(lex_dir, LexicalIndex.load)
        if lex.lang != lang or lex.size != len(rows) or by_lang.get(lang) != len(rows):
            raise IndexLoadError(
                f"{lex_dir} indexes {lex.size} {lex.lang!r} chunks, but {CHUNKS_NAME} has {len(rows)}: {REBUILD_HINT}"
            )
        lexical[lang] = lex

    return LoadedIndex(
        root=root,
        build_dir=build_dir,
        manifest=manifest,
        chunks=chunks,
        vectors=vectors,
        dense=dense,
        lexical=lexical,
        lexical_rows=lexical_rows,
        unit_vectors=unit_vectors,
    )


def _load_unit_vectors(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Read into memory (a few MB): a file changed under a memory map would fault the process."""
    try:
        units = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"{path} is unreadable or corrupt ({exc}): {REBUILD_HINT}") from exc
    if units.shape != shape or units.dtype != np.float32:
        raise IndexLoadError(f"{path} holds {units.dtype} {units.shape}, expected float32 {shape}: {REBUILD_HINT}")
    units.setflags(write=False)
    return units


def _load_chunks(path: Path) -> list[Chunk]:
    chunks: list[Chunk] = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                try:
                    chunks.append(Chunk.from_json(json.loads(line)))
                except (ValueError, TypeError, AttributeError) as exc:
                    raise IndexLoadError(f"{path} line {lineno} is corrupt ({exc}): {REBUILD_HINT}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexLoadError(f"{path} is unreadable or corrupt ({exc}): {REBUILD_HINT}") from exc
    return chunks


def _load_vectors(path: Path, shape: tuple[int, int], sha256: str | None) -> np.ndarray:
    """The vectors, read once into memory, checked against ``sha256`` (when given) and pinned.

    Not memory-mapped: a mapped file that is truncated or rewritten under a running server
    turns the next query that touches it into SIGBUS, which kills the worker. A copy costs
    n x dim x 4 bytes (1.7 MB for 1,142 chunks) and makes damage after load harmless; the
    checksum is computed on the bytes that are used, not on a second read of the file.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IndexLoadError(f"{path} cannot be read ({exc.strerror or exc}): {REBUILD_HINT}") from exc
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise IndexLoadError(f"{path} is corrupt (sha256 does not match the manifest): {REBUILD_HINT}")
    try:
        vectors = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise IndexLoadError(f"{path} is unreadable or corrupt ({exc}): {REBUILD_HINT}") from exc
    if vectors.shape != shape or vectors.dtype != np.float32:
        raise IndexLoadError(
            f"{path} holds {vectors.dtype} {vectors.shape}, expected float32 {shape}: {REBUILD_HINT}"
        )
    vectors.setflags(write=False)
    return vectors


def _load_part(path: Path, loader):
    """Run a faiss/bm25s loader, turning whatever it raises into IndexLoadError naming ``path``."""
    try:
        return loader(path)
    except IndexLoadError:
        raise
    except Exception as exc:  # faiss raises RuntimeError, bm25s/json/numpy assorted errors
        raise IndexLoadError(f"{path} is unreadable or corrupt ({type(exc).__name__}: {exc}): {REBUILD_HINT}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
