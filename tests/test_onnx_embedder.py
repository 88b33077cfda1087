"""The ONNX query embedder against the real model: a real export, compared with sentence-transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kb_service.models.sentence_transformers import DEFAULT_MODEL, SentenceTransformerEmbedder, resolve_model_path
from kb_service.models.onnx import (
    EXPORT_FORMAT_VERSION,
    EXPORT_INFO_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    OnnxEmbedder,
    OnnxModelError,
    export_onnx,
)

ROOT = Path(__file__).resolve().parents[1]

SENTENCES = [
    "How do I publish a journey?",
    "What is the difference between a journey and a campaign?",
    "Orchestrated campaigns run batch workflows on a canvas with relational data.",
    "Comment créer une campagne orchestrée ?",
    "Puis-je modifier un parcours déjà publié ?",
    "Les audiences en streaming sont évaluées en temps réel.",
    "ok",
]
LONG_TEXT = " ".join(["Journeys react to events and send messages across channels."] * 120)


@pytest.fixture(scope="session")
def reference() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(DEFAULT_MODEL, threads=2)


@pytest.fixture(scope="session")
def fp32_dir(onnx_fp32_dir) -> Path:
    return onnx_fp32_dir  # export_onnx's output, made once per session (conftest.py)


@pytest.fixture(scope="session")
def fp32(fp32_dir) -> OnnxEmbedder:
    embedder = OnnxEmbedder(fp32_dir, name=DEFAULT_MODEL, threads=2)
    embedder.warm_up()
    return embedder


def test_export_writes_a_complete_folder_and_records_its_source(fp32_dir):
    assert sorted(p.name for p in fp32_dir.iterdir()) == sorted([MODEL_FILE, TOKENIZER_FILE, EXPORT_INFO_FILE])
    info = json.loads((fp32_dir / EXPORT_INFO_FILE).read_text())
    # made through the export cache, which hands export_onnx the resolved model folder
    assert info["source_model"] in (DEFAULT_MODEL, resolve_model_path(DEFAULT_MODEL))
    assert info["quantize"] == "none"
    assert info["dim"] == 384 and info["max_tokens"] == 256
    assert len(info["weights_sha256"]) == 64 and info["opset"] >= 13


def test_no_residual_add_is_left_for_onnxruntime_to_fuse_into_skip_layer_norm(fp32_dir):
    # onnxruntime's CPU SkipLayerNormalization is slower than the Add + LayerNormalization it
    # replaces; the export writes those residual Adds as Sum, which its fusion does not match.
    import onnx

    graph = onnx.load(str(fp32_dir / MODEL_FILE)).graph
    producer = {out: node for node in graph.node for out in node.output}
    norms = [node for node in graph.node if node.op_type == "LayerNormalization"]
    feeding = [producer[node.input[0]].op_type for node in norms if node.input[0] in producer]
    assert len(norms) == 13 and feeding.count("Sum") == 13  # embeddings + 2 per layer, 6 layers
    assert json.loads((fp32_dir / EXPORT_INFO_FILE).read_text())["residual_sums"] == 13


def test_an_export_in_an_older_format_beside_the_index_is_made_again(tmp_path, monkeypatch):
    from kb_service import kb as kb_module

    exports = []
    monkeypatch.setattr("kb_service.models.export_cache.export_into", lambda model, target, quantize: exports.append(target))
    target = kb_module.onnx_model_dir(tmp_path, DEFAULT_MODEL, "int8")
    target.mkdir(parents=True)
    (target / MODEL_FILE).write_bytes(b"old")
    (target / TOKENIZER_FILE).write_text("{}")
    (target / EXPORT_INFO_FILE).write_text(json.dumps({"format_version": 1}))
    kb_module.ensure_onnx_export(tmp_path, DEFAULT_MODEL, "int8")
    assert exports == [target]
    (target / EXPORT_INFO_FILE).write_text(json.dumps({"format_version": EXPORT_FORMAT_VERSION}))
    kb_module.ensure_onnx_export(tmp_path, DEFAULT_MODEL, "int8")
    assert exports == [target]  # current: left alone


def test_fp32_matches_sentence_transformers(fp32, reference):
    got = fp32.encode(SENTENCES + [LONG_TEXT])
    want = reference.encode(SENTENCES + [LONG_TEXT])
    cosines = (got * want).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_rows_come_back_in_input_order_across_batches(fp32):
    texts = SENTENCES * 3
    together = fp32.encode(texts, batch_size=4)  # sorted by length inside, several batches
    one_by_one = np.vstack([fp32.encode([t]) for t in texts])
    assert np.allclose(together, one_by_one, atol=1e-5)


def test_shape_dtype_and_normalisation(fp32):
    vectors = fp32.encode(SENTENCES, batch_size=3)
    assert vectors.shape == (len(SENTENCES), fp32.dim)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_zero_rows(fp32):
    vectors = fp32.encode([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


def test_long_text_is_truncated_to_the_window(fp32):
    assert fp32.count_tokens(LONG_TEXT) > fp32.max_tokens
    # Truncation means the tail no longer matters.
    a, b = fp32.encode([LONG_TEXT, LONG_TEXT + " Completely different ending about invoices."])
    assert float(a @ b) > 0.9999


def test_count_tokens_agrees_with_the_reference(fp32, reference):
    for text in SENTENCES + [LONG_TEXT, ""]:
        assert fp32.count_tokens(text) == reference.count_tokens(text)


def test_encode_from_several_threads(fp32):
    expected = fp32.encode(SENTENCES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: fp32.encode(SENTENCES), range(16)))
    for result in results:
        assert np.allclose(result, expected, atol=1e-5)


def test_int8_export_stays_close_to_fp32(onnx_int8_dir, fp32):
    int8_dir = onnx_int8_dir
    assert json.loads((int8_dir / EXPORT_INFO_FILE).read_text())["quantize"] == "int8"
    assert (int8_dir / MODEL_FILE).stat().st_size < 0.4 * (fp32.model_dir / MODEL_FILE).stat().st_size
    int8 = OnnxEmbedder(int8_dir, name=DEFAULT_MODEL)
    cosines = (int8.encode(SENTENCES) * fp32.encode(SENTENCES)).sum(axis=1)
    # Quantisation noise weighs most on very short inputs ("ok" lands near 0.96); see the doc.
    assert cosines.min() >= 0.95 and cosines.mean() >= 0.985, cosines


def test_constructor_is_cheap_and_rejects_an_incomplete_folder(fp32_dir, tmp_path):
    embedder = OnnxEmbedder(fp32_dir, name=DEFAULT_MODEL)
    assert embedder._session is None and embedder.dim == 384 and embedder.max_tokens == 256
    (tmp_path / MODEL_FILE).write_bytes(b"")
    with pytest.raises(OnnxModelError, match="export_onnx"):
        OnnxEmbedder(tmp_path, name=DEFAULT_MODEL)


def test_unknown_quantize_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="quantize"):
        export_onnx(DEFAULT_MODEL, tmp_path, quantize="int4")


def test_serving_never_imports_torch(fp32_dir):
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import kb_service.models.onnx as m
        e = m.OnnxEmbedder(Path({str(fp32_dir)!r}), name="all-MiniLM-L6-v2")
        v = e.encode(["Comment publier un parcours ?"])
        assert v.shape == (1, 384), v.shape
        e.count_tokens("hello")
        heavy = sorted(n for n in ("torch", "transformers", "sentence_transformers") if n in sys.modules)
        print(",".join(heavy) or "clean")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "clean"


def test_bf16_chunk_embeddings_stay_within_rounding_of_fp32(reference):
    bf16 = SentenceTransformerEmbedder(DEFAULT_MODEL, threads=2, precision="bf16")
    got, want = bf16.encode(SENTENCES), reference.encode(SENTENCES)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * want).sum(axis=1)
    assert cosines.min() > 0.999  # 0.99997 over the 1,142 corpus chunks
    assert not np.array_equal(got, want)  # the autocast really ran in bfloat16


def test_ingest_precision_resolves_auto_from_the_cpu_flags(tmp_path, monkeypatch):
    from kb_service.models import sentence_transformers as embedding

    with_bf16, without = tmp_path / "with", tmp_path / "without"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n")
    assert embedding.native_bf16(str(with_bf16)) and not embedding.native_bf16(str(without))
    assert not embedding.native_bf16(str(tmp_path / "missing"))
    monkeypatch.setattr(embedding, "native_bf16", lambda: True)
    assert embedding.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(embedding, "native_bf16", lambda: False)
    assert embedding.resolve_precision("auto") == "fp32"
    assert embedding.resolve_precision("bf16") == "bf16" and embedding.resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match="ingest_precision must be 'auto', 'fp32' or 'bf16', got 'fp16'"):
        embedding.resolve_precision("fp16")
    with pytest.raises(ValueError, match="precision"):
        SentenceTransformerEmbedder(DEFAULT_MODEL, precision="int4")
