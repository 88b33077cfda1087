"""DenseIndex on real FAISS: exact flat vs HNSW, row restriction, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from kb_service.store import dense as dense_module
from kb_service.store.dense import HNSW_THRESHOLD, DenseIndex


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, rows=None):
    candidates = np.arange(len(vectors)) if rows is None else np.unique(rows)
    scores = vectors[candidates] @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], candidates[order]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return unit_vectors(300, 16)


def test_auto_picks_flat_below_threshold(vectors):
    assert DenseIndex.build(vectors).kind == "flat"
    assert HNSW_THRESHOLD > len(vectors)


def test_auto_picks_hnsw_above_threshold(vectors, monkeypatch):
    monkeypatch.setattr(dense_module, "HNSW_THRESHOLD", 100)
    assert DenseIndex.build(vectors).kind == "hnsw"


def test_flat_is_exact(vectors):
    index = DenseIndex.build(vectors, kind="flat")
    assert (index.kind, index.dim, index.size) == ("flat", 16, 300)
    query = vectors[7]
    scores, rows = index.search(query, 5)
    want_scores, want_rows = brute_force(vectors, query, 5)
    assert rows.tolist() == want_rows.tolist()
    assert rows[0] == 7 and scores[0] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
    assert scores.dtype == np.float32 and rows.dtype == np.int64


def test_hnsw_matches_flat_on_a_tiny_set(vectors):
    flat = DenseIndex.build(vectors, kind="flat")
    hnsw = DenseIndex.build(vectors, kind="hnsw")
    assert hnsw.kind == "hnsw"
    for q in (0, 42, 299):
        # On 300 vectors the graph walk with efSearch >= 64 visits them all: same answer.
        assert hnsw.search(vectors[q], 10)[1].tolist() == flat.search(vectors[q], 10)[1].tolist()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_query_shapes_and_k(vectors, kind):
    index = DenseIndex.build(vectors, kind=kind)
    a = index.search(vectors[3], 4)
    b = index.search(vectors[3][None, :], 4)
    assert a[1].tolist() == b[1].tolist()
    # k larger than the index: no -1 padding (flat returns every row; a graph walk may not).
    scores, rows = index.search(vectors[3], 1000)
    assert (rows >= 0).all() and len(set(rows.tolist())) == len(rows)
    assert len(rows) == 300 if kind == "flat" else 250 <= len(rows) <= 300
    assert (np.diff(scores) <= 1e-6).all()
    assert index.search(vectors[3], 0)[1].size == 0
    with pytest.raises(ValueError):
        index.search(np.zeros(5, dtype=np.float32), 3)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_rows_restriction(vectors, kind):
    index = DenseIndex.build(vectors, kind=kind)
    allowed = np.array([5, 17, 17, 99, 150, 151, 298])  # duplicates ignored
    query = vectors[151]
    scores, rows = index.search(query, 3, rows=allowed)
    want_scores, want_rows = brute_force(vectors, query, 3, rows=allowed)
    assert rows.tolist() == want_rows.tolist()
    assert rows[0] == 151
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
    # Fewer allowed rows than k: only those, no padding.
    scores, rows = index.search(query, 10, rows=np.array([1, 2]))
    assert sorted(rows.tolist()) == [1, 2] and len(scores) == 2
    assert index.search(query, 10, rows=np.array([], dtype=np.int64))[1].size == 0
    with pytest.raises(ValueError):
        index.search(query, 3, rows=np.array([300]))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_row_subset_finds_what_a_restricted_search_finds(vectors, kind):
    index = DenseIndex.build(vectors, kind=kind)
    allowed = np.array([298, 5, 17, 17, 99, 150, 151])  # unsorted, with a duplicate
    subset = index.subset(allowed)
    assert len(subset) == 6
    for query_row in (151, 0, 42):
        query = vectors[query_row]
        for k in (1, 3, 6, 10):
            want_scores, want_rows = index.search(query, k, rows=allowed)
            scores, rows = subset.search(query, k)
            assert rows.tolist() == want_rows.tolist()
            assert scores.tolist() == want_scores.tolist()  # the same float32 dot products
    assert subset.search(vectors[0], 0)[1].size == 0
    assert len(index.subset(np.array([], dtype=np.int64)).search(vectors[0], 3)[1]) == 0


def test_a_row_subset_rejects_rows_outside_the_index_or_too_many(vectors, monkeypatch):
    index = DenseIndex.build(vectors)
    with pytest.raises(ValueError, match="within"):
        index.subset(np.array([0, 300]))
    monkeypatch.setattr(dense_module, "SUBSET_EXACT_MAX", 2)
    with pytest.raises(ValueError, match="SUBSET_EXACT_MAX"):
        index.subset(np.array([0, 1, 2]))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_rows_restriction_through_faiss_selector(vectors, kind, monkeypatch):
    # Force the IDSelector path (used for large subsets) on a small index.
    monkeypatch.setattr(dense_module, "SUBSET_EXACT_MAX", 0)
    index = DenseIndex.build(vectors, kind=kind)
    allowed = np.arange(0, 300, 3)
    query = vectors[30]
    scores, rows = index.search(query, 5, rows=allowed)
    assert set(rows.tolist()) <= set(allowed.tolist())
    assert rows.tolist() == brute_force(vectors, query, 5, rows=allowed)[1].tolist()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_round_trip(vectors, kind, tmp_path):
    index = DenseIndex.build(vectors, kind=kind)
    path = tmp_path / "dense.faiss"
    index.save(path)
    loaded = DenseIndex.load(path)
    assert (loaded.kind, loaded.dim, loaded.size) == (kind, 16, 300)
    for q in (1, 100):
        assert loaded.search(vectors[q], 7)[1].tolist() == index.search(vectors[q], 7)[1].tolist()
    assert loaded.search(vectors[1], 2, rows=np.array([4, 5]))[1].tolist() == index.search(
        vectors[1], 2, rows=np.array([4, 5])
    )[1].tolist()


def test_build_rejects_bad_input():
    with pytest.raises(ValueError):
        DenseIndex.build(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError):
        DenseIndex.build(unit_vectors(4, 8), kind="ivf")
