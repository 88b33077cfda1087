"""Publishing builds to a shared folder that replicas serve from (``kb publish``).

The shared folder has the layout of an index root (index.py), so a replica serves it with
``KB_INDEX=<folder>`` and nothing else::

    shared/CURRENT               the build replicas serve; moved only by set_current
    shared/builds/<build>/       immutable copies of published builds
    shared/onnx/<model>-<quant>/ the query model's ONNX export (replicas never run torch)

A build is copied into ``builds/.tmp-…``, fsynced, renamed to its name, then every
artifact's sha256 is checked against its manifest *on the copy*, the bytes replicas will
read. CURRENT is replaced only after that (tmp file + os.replace), so a replica either sees
the old name or a complete, verified build. The newest builds are kept (``keep``):
publishing one of them again is a rollback that only moves the pointer, and a replica still
reading the previous build when CURRENT moves is not cut short.

An object store (an ``s3://`` URL) is the documented next step: the same three operations
(put the build under its name, verify, then put CURRENT last) with a conditional write for
the pointer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

# The index's own file helpers (same package): a published build is written the way ingest writes one.
from kb_service.store.index import (
    BUILDS_DIR,
    CURRENT_NAME,
    MANIFEST_NAME,
    TMP_PREFIX,
    IndexLoadError,
    IndexWriteError,
    _BUILD_NAME,
    _fsync_dir,
    current_build,
    _write_file,
    verify_build,
)

DEFAULT_KEEP = 3


class PublishError(Exception):
    """A build cannot be published; the message says why and that CURRENT did not move."""


def resolve_build(source: Path) -> Path:
    """The build folder ``source`` names: a build folder itself, or an index root's current build."""
    source = Path(source)
    if (source / MANIFEST_NAME).is_file():
        return source
    if not source.is_dir():
        raise PublishError(f"{source} is neither an index folder nor a build folder")
    try:
        name = current_build(source)
    except IndexLoadError as exc:
        raise PublishError(str(exc)) from None
    if name is None:
        raise PublishError(f"{source} holds no build (no {CURRENT_NAME}, no {MANIFEST_NAME}): run `kb ingest` first")
    return source / BUILDS_DIR / name


def copy_build(build_dir: Path, shared: Path) -> tuple[Path, bool]:
    """Copy ``build_dir`` into ``shared/builds/`` and verify the copy; ``(path, copied)``.

    A build already there under its name is verified and reused (``copied`` False), which
    is how an older build is published again (a rollback). Raises PublishError when the
    source or the copy does not verify; a failed copy is removed.
    """
    build_dir = Path(build_dir)
    name = build_dir.name
    if not _BUILD_NAME.match(name):
        raise PublishError(f"{build_dir} is not a build folder (its name is not a build name)")
    builds = Path(shared) / BUILDS_DIR
    final = builds / name
    if final.is_dir():
        _verified(final, "the published copy")
        return final, False
    _verified(build_dir, "the build to publish")
    tmp = builds / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(3)}-{name}"
    try:
        builds.mkdir(parents=True, exist_ok=True)
        shutil.copytree(build_dir, tmp, copy_function=_copy_synced)
        for directory in sorted({p.parent for p in tmp.rglob("*")} | {tmp}):
            _fsync_dir(directory)
        os.rename(tmp, final)
        _fsync_dir(builds)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishError(f"could not copy {build_dir} to {builds} ({exc.strerror or exc}); "
                           f"{CURRENT_NAME} was not moved") from exc
    try:
        _verified(final, "the copy")
    except PublishError:
        shutil.rmtree(final, ignore_errors=True)
        raise
    return final, True


def _verified(build_dir: Path, what: str) -> dict:
    try:
        return verify_build(build_dir, verify=True)
    except IndexLoadError as exc:
        raise PublishError(f"{what} does not verify: {exc}; {CURRENT_NAME} was not moved") from None


def _copy_synced(src: str, dst: str) -> None:
    shutil.copy2(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_tree_once(source: Path, target: Path) -> bool:
    """Copy folder ``source`` to ``target`` unless it exists (staged, then renamed); True if copied."""
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.parent / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(3)}-{target.name}"
    try:
        shutil.copytree(source, staged, copy_function=_copy_synced)
        os.rename(staged, target)
    except OSError:
        shutil.rmtree(staged, ignore_errors=True)
        if not target.exists():  # lost a race with another publisher: theirs is as good
            raise
    return True


def current_name(shared: Path) -> str | None:
    try:
        return current_build(Path(shared))
    except IndexLoadError:
        return None  # a corrupt pointer is repaired by the next set_current


def set_current(shared: Path, name: str) -> None:
    """Point CURRENT at ``builds/<name>`` atomically (tmp file, fsync, os.replace, fsync dir)."""
    shared = Path(shared)
    if not (shared / BUILDS_DIR / name).is_dir():
        raise PublishError(f"{shared / BUILDS_DIR / name} does not exist; {CURRENT_NAME} was not moved")
    pointer = shared / f"{TMP_PREFIX}{CURRENT_NAME}-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        _write_file(pointer, (name + "\n").encode())
        os.replace(pointer, shared / CURRENT_NAME)
        _fsync_dir(shared)
    except OSError as exc:
        with contextlib.suppress(OSError):
            pointer.unlink()
        raise IndexWriteError(f"could not move {shared / CURRENT_NAME}: {exc.strerror or exc}", exc.errno) from exc


def sweep_builds(shared: Path, keep: int = DEFAULT_KEEP) -> list[str]:
    """Delete published builds older than the newest ``keep`` (never CURRENT); return their names."""
    builds = Path(shared) / BUILDS_DIR
    current = current_name(shared)
    names = sorted((p.name for p in builds.iterdir() if p.is_dir() and _BUILD_NAME.match(p.name)), reverse=True)
    removed = [n for n in names[max(keep, 1):] if n != current]
    for name in removed:
        shutil.rmtree(builds / name, ignore_errors=True)
    return removed


@contextlib.contextmanager
def build_view(build_dir: Path) -> Iterator[Path]:
    """A scratch index root whose CURRENT names ``build_dir`` (linked, not copied).

    ``KnowledgeBase`` loads the build CURRENT names; this lets ``kb publish`` load and
    evaluate a build before the real CURRENT moves to it.
    """
    build_dir = Path(build_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="kb-build-view-") as tmp:
        root = Path(tmp)
        (root / BUILDS_DIR).mkdir()
        (root / BUILDS_DIR / build_dir.name).symlink_to(build_dir, target_is_directory=True)
        (root / CURRENT_NAME).write_text(build_dir.name + "\n", encoding="utf-8")
        yield root  # removing the folder removes the link, never the build
