"""A deterministic stand-in for the embedding model, for tests that are not about the model.

Tests of fusion, diversity, answers and ingest bookkeeping use it so that their expected
results can be worked out by hand; everything else (FAISS, BM25, files) is real. Each word
hashes to one of DIM dimensions, so texts sharing words have a high cosine.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

DIM = 64


class ToyEmbedder:
    name = "toy-hash-embedder"
    dim = DIM
    max_tokens = 256

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def encode(self, texts, *, batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out
