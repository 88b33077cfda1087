"""Shared fixtures: the real corpus index and the ONNX exports, each made once per test session.

The index is built from ../shared/corpus with the real model and a real FAISS/BM25 index,
as `kb ingest` would. Set KB_TEST_INDEX to a folder to reuse (and keep) a built index
between runs; it is rebuilt there when missing or out of date (scripts/test.sh sets it, so
its two pytest runs share one build).

The ONNX export cache (KB_CACHE_DIR) is a fresh folder per session, shared by every test
and every `kb` subprocess: each export (fp32, int8) is really made once per session, then
copied, and the user's own cache is never read or written by the tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_SESSION_CACHE = Path(tempfile.mkdtemp(prefix="kb-test-cache-"))
os.environ["KB_CACHE_DIR"] = str(_SESSION_CACHE)
# hypothesis keeps its example database and caches in ./.hypothesis, inside the checkout: not here.
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(_SESSION_CACHE / "hypothesis")


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
SHARED_CORPUS = SHARED / "corpus"
DEV_SET = SHARED / "eval" / "dev.jsonl"

needs_shared_corpus = pytest.mark.skipif(
    not (SHARED_CORPUS / "en").is_dir(), reason="../shared/corpus is not beside the project"
)


def corpus_sources():
    """The default configuration's sources (kb.toml): shared en/fr corpora and the shipped guide."""
    from kb_service.config import load_settings

    return load_settings(PROJECT / "kb.toml").sources


@pytest.fixture(scope="session")
def corpus_index_dir(tmp_path_factory) -> Path:
    """A real index of the full default corpus (built once; ~1 minute on 2 cores)."""
    if not (SHARED_CORPUS / "en").is_dir():
        pytest.skip("../shared/corpus is not beside the project")
    from kb_service.models.sentence_transformers import SentenceTransformerEmbedder
    from kb_service.ingest.pipeline import ingest

    root = Path(os.environ["KB_TEST_INDEX"]) if os.environ.get("KB_TEST_INDEX") else tmp_path_factory.mktemp("index")
    ingest(sources=corpus_sources(), link_depth=1, index_root=root, embedder=SentenceTransformerEmbedder())
    return root


@pytest.fixture(scope="session")
def corpus_kb(corpus_index_dir):
    """A loaded KnowledgeBase over the corpus index, with the default (ONNX) query path and
    the Journey Optimizer profile, as kb.toml configures it."""
    from kb_service.kb import KnowledgeBase

    return KnowledgeBase(corpus_index_dir, profile="journey-optimizer").load()


def _session_export(tmp_path_factory, quantize: str) -> Path:
    from kb_service.models import export_cache
    from kb_service.models.sentence_transformers import DEFAULT_MODEL

    return export_cache.export_into(DEFAULT_MODEL, tmp_path_factory.mktemp("onnx") / quantize, quantize=quantize)


@pytest.fixture(scope="session")
def onnx_fp32_dir(tmp_path_factory) -> Path:
    """The default model exported to ONNX fp32: made once per session (the session cache)."""
    return _session_export(tmp_path_factory, "none")


@pytest.fixture(scope="session")
def onnx_int8_dir(tmp_path_factory) -> Path:
    """The int8 export, as the corpus index's query model uses: made once per session."""
    return _session_export(tmp_path_factory, "int8")
