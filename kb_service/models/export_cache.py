"""A per-user cache of ONNX exports, so a fresh index does not redo a model conversion.

Exporting the query model (trace with torch, check against torch, quantise) takes 4-8 s and
gives the same graph for the same weights every time. ``export_into`` keeps one export per
(weights sha256, quantisation, export format) under ``cache_dir()/onnx`` and copies it into
an index's model folder; a cached copy whose weights or model checksum no longer match is
exported again. ``KB_CACHE_DIR`` moves the cache; ``KB_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from kb_service.models.sentence_transformers import resolve_model_path
from kb_service.models.onnx import (
    EXPORT_FORMAT_VERSION,
    EXPORT_INFO_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    OnnxModelError,
    export_onnx,
    file_sha256,
    read_export_info,
    weights_file,
)

_OFF = {"off", "none", "0", "false", "no"}


def cache_dir() -> Path | None:
    """``KB_CACHE_DIR``, else ``$XDG_CACHE_HOME/kb``, else ``~/.cache/kb``; None when turned off."""
    configured = os.environ.get("KB_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in _OFF or not configured.strip() else Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kb"


def export_into(model: str, out_dir: Path, *, quantize: str, cache: Path | None = None) -> Path:
    """Make ``out_dir`` a complete export of ``model``; from the cache when it holds one.

    When the disk refuses (full, read-only), raises ``OnnxModelError`` with one line naming
    the folder and the reason, and removes the folders this call created (an empty model
    folder beside the index would only say that something half happened)."""
    out_dir = Path(out_dir)
    created = [d for d in (out_dir.parent, out_dir) if not d.exists()]
    try:
        return _export_into(model, out_dir, quantize=quantize, cache=cache)
    except OSError as exc:
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        reason = exc.strerror or str(exc)
        raise OnnxModelError(f"could not write the query model into {out_dir} ({reason}); the index itself is "
                             "complete: free some space and run `kb ingest` again to export the model") from exc
    except BaseException:
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _export_into(model: str, out_dir: Path, *, quantize: str, cache: Path | None) -> Path:
    cache = cache if cache is not None else cache_dir()
    source = resolve_model_path(model)
    weights = weights_file(Path(source)) if cache is not None else None
    if weights is None:  # no cache, or weights export_onnx will name as missing
        return export_onnx(source, out_dir, quantize=quantize)
    digest = file_sha256(weights)
    entry = cache / "onnx" / f"{digest[:16]}-{quantize}-v{EXPORT_FORMAT_VERSION}"
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        # One exporter at a time per cache: two ingests starting together export once.
        with FileLock(str(entry.parent / ".lock")):
            if not _valid(entry, digest):
                shutil.rmtree(entry, ignore_errors=True)
                export_onnx(source, entry, quantize=quantize)
    except OSError:
        # A read-only or full home must not stop an ingest: export straight into the index.
        return export_onnx(source, out_dir, quantize=quantize)
    _install(entry, Path(out_dir))
    return Path(out_dir)


def _valid(entry: Path, weights_sha256: str) -> bool:
    try:
        info = read_export_info(entry)
    except (OnnxModelError, OSError, ValueError):
        return False
    return info.get("weights_sha256") == weights_sha256 and info.get("onnx_sha256") == file_sha256(entry / MODEL_FILE)


def _install(entry: Path, out_dir: Path) -> None:
    """Copy a cached export into ``out_dir`` the way export_onnx writes one: info file last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".onnx-copy-", dir=out_dir) as tmp:
        staged = {name: Path(tmp) / name for name in (MODEL_FILE, TOKENIZER_FILE, EXPORT_INFO_FILE)}
        for name, path in staged.items():
            shutil.copyfile(entry / name, path)
        info = json.loads(staged[EXPORT_INFO_FILE].read_text(encoding="utf-8"))
        if info.get("onnx_sha256") != file_sha256(staged[MODEL_FILE]):
            raise OnnxModelError(f"the cached export in {entry} changed while it was copied: run the command again")
        (out_dir / EXPORT_INFO_FILE).unlink(missing_ok=True)
        os.replace(staged[MODEL_FILE], out_dir / MODEL_FILE)
        os.replace(staged[TOKENIZER_FILE], out_dir / TOKENIZER_FILE)
        os.replace(staged[EXPORT_INFO_FILE], out_dir / EXPORT_INFO_FILE)
