"""Dense retrieval: FAISS over L2-normalised float32 vectors, so inner product = cosine.

Row numbers are the only identity FAISS knows; the caller (``index.py``) owns the mapping
from row to ``Chunk``. Disk I/O is confined to ``save``/``load`` (faiss native format, no pickle).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

# Below this many vectors an exact IndexFlatIP is used; above it, HNSW (docs/scaling.md,
# measured with scripts/bench_scaling.py on this 2-core machine, 1 OpenMP thread, 384-d).
# Flat search is memory-bound and linear: p50 0.24 ms at 10k, 7-11 ms at 100k, 25 ms at 300k,
# 55 ms at 1M. At 50k it costs ~3.5 ms, about what embedding the question costs (2-5 ms);
# below that exactness is free, above it flat search dominates the query. HNSW answers in
# < 0.6 ms at every size measured, and its build (30-45 s per 100k rows on 2 cores) is small
# next to embedding the same passages (~30 passages/s), so the switch costs ingest little.
HNSW_THRESHOLD = 50_000
HNSW_M = 32
# efConstruction trades build time for graph quality; 80 keeps a 1M build near 12 min on 2 cores.
HNSW_EF_CONSTRUCTION = 80
# recall@10 vs exact on clustered 384-d data: ef=64 gives 0.999 at 100k but 0.976 at 300k;
# ef=256 gives 1.0 at 100k and 0.9985 at 300k for ~0.35-0.6 ms. 1M is not measured to the
# end (build cut at 10 min); re-measure before relying on ef=256 there.
HNSW_EF_SEARCH = 256

# A `rows`-restricted search scores the subset exactly when it is at most this many rows:
# it is exact, and on HNSW a selective IDSelector walk is both slower (~15 ms for 1k of 100k
# rows) and lossy (recall 0.90 for 1k of 300k rows). The two cost the same near 10k rows.
# Larger subsets go through faiss with an IDSelector (flat: still exact).
SUBSET_EXACT_MAX = 10_000

_SUBSET_BLOCK = 512

KINDS = ("flat", "hnsw")


class DenseIndex:
    """Cosine search over a fixed set of vectors, by row number."""

    def __init__(self, index: faiss.Index, kind: str) -> None:
        # Cheap: wraps an already-built faiss index. Use ``build`` or ``load``.
        if kind not in KINDS:
            raise ValueError(f"unknown dense index kind {kind!r}; expected one of {KINDS}")
        self._index = index
        self.kind = kind
        self.dim = int(index.d)
        self.size = int(index.ntotal)
        # Zero-copy view of the stored vectors (both kinds keep them as an IndexFlat),
        # used for the exact restricted-search path. Kept alive by self._index.
        storage = index if kind == "flat" else faiss.downcast_index(index.storage)
        if self.size:
            self._xb = faiss.rev_swig_ptr(storage.get_xb(), self.size * self.dim).reshape(
                self.size, self.dim
            )
        else:
            self._xb = np.zeros((0, self.dim), dtype=np.float32)

    def __repr__(self) -> str:
        return f"DenseIndex(kind={self.kind!r}, dim={self.dim}, size={self.size})"

    @classmethod
    def build(cls, vectors: np.ndarray, *, kind: str = "auto") -> "DenseIndex":
        """Index ``vectors`` (n, d), already L2-normalised. ``auto`` picks by HNSW_THRESHOLD."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise ValueError(f"vectors must be a 2-d (n, d) array, got shape {vectors.shape}")
        n, dim = vectors.shape
        if kind == "auto":
            kind = "hnsw" if n > HNSW_THRESHOLD else "flat"
        if kind == "flat":
            index: faiss.Index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            raise ValueError(f"unknown dense index kind {kind!r}; expected 'auto', 'flat' or 'hnsw'")
        if n:
            index.add(vectors)
        return cls(index, kind)

    def search(
        self, query: np.ndarray, k: int, *, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(scores, rows)`` of the ``k`` nearest rows, best first, no -1 padding.

        ``rows`` restricts the search to those row numbers (duplicates ignored).
        """
        q = np.ascontiguousarray(query, dtype=np.float32)
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.shape != (self.dim,):
            raise ValueError(f"query must have shape ({self.dim},) or (1, {self.dim}), got {np.shape(query)}")
        empty = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        if k <= 0 or self.size == 0:
            return empty
        if rows is None:
            return self._faiss_search(q, k, params=None)
        rows = self._unique_rows(rows)
        if rows.size == 0:
            return empty
        if rows.size <= SUBSET_EXACT_MAX:
            return self._exact_subset(q, k, rows)
        if self.kind == "flat":
            # Still exact: one scan that skips rows outside the selector (no gather copy).
            params = faiss.SearchParameters()
        else:
            params = faiss.SearchParametersHNSW()
            # A filter visits fewer useful nodes; widen the beam by the inverse selectivity.
            widen = self.size / rows.size
            params.efSearch = int(min(max(self._index.hnsw.efSearch * widen, k), 4096))
        selector = faiss.IDSelectorBatch(rows)
        params.sel = selector
        return self._faiss_search(q, k, params=params)

    def _unique_rows(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` sorted, without duplicates; ValueError if one is outside the index."""
        rows = np.unique(np.asarray(rows, dtype=np.int64).ravel())
        if rows.size and (rows[0] < 0 or rows[-1] >= self.size):
            raise ValueError(f"rows must be within [0, {self.size}), got {rows[0]}..{rows[-1]}")
        return rows

    def _faiss_search(self, q: np.ndarray, k: int, params) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.size)
        if params is None:
            scores, ids = self._index.search(q[None, :], k)
        else:
            scores, ids = self._index.search(q[None, :], k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep].astype(np.float32), ids[0][keep].astype(np.int64)

    def _exact_subset(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = np.empty(rows.size, dtype=np.float32)
        # In blocks: one big gather would allocate len(rows) x d floats per query (fresh,
        # page-faulting memory); 512 rows x 384 d is 768 KB, reused from the allocator.
        for start in range(0, rows.size, _SUBSET_BLOCK):
            block = rows[start : start + _SUBSET_BLOCK]
            np.dot(self._xb[block], q, out=scores[start : start + block.size])
        return _best_first(scores, rows, k)

    def subset(self, rows: np.ndarray) -> "RowSubset":
        """A fixed set of rows (one language, say) gathered once, for repeated exact searches.

        ``search(q, k, rows=rows)`` gathers and de-duplicates the rows on every query; a
        query that always restricts to the same rows pays that once here instead.
        """
        rows = self._unique_rows(rows)
        if rows.size > SUBSET_EXACT_MAX:
            raise ValueError(f"a subset holds at most {SUBSET_EXACT_MAX} rows (SUBSET_EXACT_MAX), not {rows.size}")
        return RowSubset(rows, np.ascontiguousarray(self._xb[rows]))

    def save(self, path: Path) -> None:
        """Write the index with faiss' own format (no pickle)."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> "DenseIndex":
        """Read an index written by ``save``; raises ValueError if it is not one of ours."""
        # read_index already returns the concrete class. Never wrap it in downcast_index:
        # the temporary would be freed while the downcast wrapper still points into it.
        index = faiss.read_index(str(path))
        if isinstance(index, faiss.IndexHNSWFlat):
            kind = "hnsw"
        elif isinstance(index, faiss.IndexFlat):
            kind = "flat"
        else:
            raise ValueError(f"{path}: unsupported faiss index type {type(index).__name__}")
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"{path}: faiss index does not use inner product")
        return cls(index, kind)


class RowSubset:
    """Exact cosine search over a fixed set of rows, their vectors held contiguously.

    Same results as ``DenseIndex.search(q, k, rows=rows)``: one matrix-vector product and
    no per-query gather.
    """

    def __init__(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        self.rows = rows
        self._vectors = vectors

    def __len__(self) -> int:
        return int(self.rows.size)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` of the ``k`` nearest rows of the subset, best first."""
        if k <= 0 or not self.rows.size:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        return _best_first(self._vectors @ np.asarray(query, dtype=np.float32).ravel(), self.rows, k)


def _best_first(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of ``scores`` (one per row of ``rows``) with their rows, best first."""
    k = min(k, rows.size)
    if k < rows.size:
        top = np.argpartition(-scores, k - 1)[:k]
    else:
        top = np.arange(rows.size)
    # Best first; ties broken by row number so results are deterministic.
    order = np.lexsort((rows[top], -scores[top]))
    top = top[order]
    return scores[top].astype(np.float32), rows[top]
