"""The per-user ONNX export cache: one real export, then copies; damaged entries are redone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kb_service.models import export_cache
from kb_service.models.sentence_transformers import DEFAULT_MODEL
from kb_service.models.onnx import EXPORT_INFO_FILE, MODEL_FILE, OnnxEmbedder, file_sha256


@pytest.fixture(scope="module")
def cache(tmp_path_factory, onnx_fp32_dir) -> Path:
    """A cache of this module's own, holding one real fp32 export: the session's, taken from
    the session cache (conftest.py) so that this module does not export the model again."""
    root = tmp_path_factory.mktemp("kb-cache")
    session_entries = [p for p in (export_cache.cache_dir() / "onnx").iterdir() if p.is_dir() and p.name.split("-")[1] == "none"]
    (entry,) = session_entries
    shutil.copytree(entry, root / "onnx" / entry.name)
    return root


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in (cache / "onnx").iterdir() if p.is_dir()]
    return entry


def _no_export(monkeypatch) -> list:
    calls: list = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("export_onnx was called although the cache holds the export")

    monkeypatch.setattr(export_cache, "export_onnx", refuse)
    return calls


def test_a_cached_export_is_copied_not_redone(cache, tmp_path, monkeypatch):
    _no_export(monkeypatch)
    out = export_cache.export_into(DEFAULT_MODEL, tmp_path / "model", quantize="none", cache=cache)
    info = json.loads((out / EXPORT_INFO_FILE).read_text())
    assert info["onnx_sha256"] == file_sha256(out / MODEL_FILE) == file_sha256(_entry(cache) / MODEL_FILE)
    vector = OnnxEmbedder(out, name=DEFAULT_MODEL).encode(["which approach for cart abandonment?"])
    assert vector.shape == (1, 384)


def test_a_damaged_cache_entry_is_exported_again(cache, tmp_path, monkeypatch):
    entry = _entry(cache)
    good = (entry / MODEL_FILE).read_bytes()
    (entry / MODEL_FILE).write_bytes(good[: len(good) // 2])  # a truncated copy, e.g. a full disk
    redone: list = []

    def fake_export(model_path, out_dir, *, quantize):
        redone.append(quantize)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / MODEL_FILE).write_bytes(good)
        for name in ("tokenizer.json", EXPORT_INFO_FILE):
            (Path(out_dir) / name).write_bytes((tmp_path / "saved" / name).read_bytes())
        return Path(out_dir)

    (tmp_path / "saved").mkdir()
    for name in ("tokenizer.json", EXPORT_INFO_FILE):
        (tmp_path / "saved" / name).write_bytes((entry / name).read_bytes())
    monkeypatch.setattr(export_cache, "export_onnx", fake_export)
    out = export_cache.export_into(DEFAULT_MODEL, tmp_path / "model", quantize="none", cache=cache)
    assert redone == ["none"]
    assert (out / MODEL_FILE).read_bytes() == good


def test_an_unwritable_cache_falls_back_to_exporting_into_the_index(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache folder should be")
    exported: list = []
    monkeypatch.setattr(export_cache, "export_onnx", lambda path, out, *, quantize: exported.append(out) or out)
    out = export_cache.export_into(DEFAULT_MODEL, tmp_path / "model", quantize="int8", cache=blocked)
    assert exported == [tmp_path / "model"] and out == tmp_path / "model"


@pytest.mark.parametrize("value", ["off", "OFF", "none", "0", ""])
def test_the_cache_can_be_turned_off(monkeypatch, value):
    monkeypatch.setenv("KB_CACHE_DIR", value)
    assert export_cache.cache_dir() is None


def test_the_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path / "c"))
    assert export_cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("KB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert export_cache.cache_dir() == tmp_path / "xdg" / "kb"
