"""ONNX Runtime query embedder: the sentence-transformers vectors without torch.

``export_onnx`` (run once, at ingest or install time; the only code here that touches torch)
writes a model folder holding ``model.onnx`` (transformer + mean pooling + L2 normalisation
in one graph), ``tokenizer.json`` and ``onnx_export.json`` (source model, weights sha256,
quantisation, opset, dim, window). ``OnnxEmbedder`` serves that folder with onnxruntime and
the ``tokenizers`` library: it starts in well under a second, uses a fraction of torch's
memory, and embeds a question in a few milliseconds (see docs/embedding-backends.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from kb_service.models.sentence_transformers import resolve_model_path

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
EXPORT_INFO_FILE = "onnx_export.json"
# 2: residual Adds before LayerNormalization written as Sum (see _without_skip_layer_norm).
EXPORT_FORMAT_VERSION = 2
# 17 is the first opset with LayerNormalization as one op; onnxruntime 1.32 runs it, and the
# TorchScript exporter (which needs no onnxscript) supports it.
DEFAULT_OPSET = 17
QUANTIZE_MODES = ("none", "int8")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Cosine between the exported graph and torch on the export probe below which export refuses.
_EXPORT_MIN_COSINE = 0.9999


class OnnxModelError(RuntimeError):
    """The ONNX model folder is missing, incomplete, or cannot be exported."""


def import_onnxruntime():
    """``onnxruntime``, imported with its usage telemetry off.

    Its Linux build ships a telemetry client that, unless ``ORT_DISABLE_TELEMETRY`` is set
    when the runtime starts, writes a device id and an event database under
    ``~/.cache/Microsoft/DeveloperTools/`` and may report to its vendor's collector. A query
    service has no business doing either; ``disable_telemetry_events`` after the import
    stops the events but not the files, hence the variable first.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort


# --------------------------------------------------------------------------- export


def export_onnx(
    model_path: str | Path,
    out_dir: Path,
    *,
    quantize: str = "none",
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export a sentence-transformers BERT-family model to ``out_dir`` and return ``out_dir``.

    ``model_path`` is a model name ``resolve_model_path`` knows (the bundled default) or a local
    sentence-transformers folder. The graph takes ``input_ids``, ``attention_mask`` and
    ``token_type_ids`` (int64, dynamic batch and sequence axes) and returns
    ``sentence_embedding`` (float32, L2-normalised mean of the token states over the mask).
    ``quantize="int8"`` applies onnxruntime dynamic quantisation (QInt8 weights, per channel).
    Every file is written under a temporary name and moved into place with ``os.replace``;
    ``onnx_export.json`` goes last, so a folder with it is complete.
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, not {quantize!r}")
    source_name = str(model_path)
    src = Path(resolve_model_path(source_name))
    weights = weights_file(src)
    if weights is None or not (src / TOKENIZER_FILE).is_file():
        raise OnnxModelError(f"{src} needs {' or '.join(_WEIGHT_FILES)} and {TOKENIZER_FILE} to be exported")
    max_tokens = _read_max_seq_length(src)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=out_dir) as tmp:
        tmp_dir = Path(tmp)
        fp32_path = tmp_dir / "fp32.onnx"
        dim, rewritten = _export_fp32(src, fp32_path, opset=opset)
        model_tmp = fp32_path
        if quantize == "int8":
            import logging

            import_onnxruntime()  # before its quantization module imports it
            from onnxruntime.quantization import QuantType, quantize_dynamic

            model_tmp = tmp_dir / "int8.onnx"
            # The quantizer logs a generic "consider pre-processing" warning on the root logger
            # for every model; it says nothing about this one, so it is kept off the console.
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)
            try:
                # Per-tensor QInt8 costs ~0.05 cosine on this model; per channel keeps it ≥ 0.98.
                quantize_dynamic(fp32_path, model_tmp, per_channel=True, weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
        tok_tmp = tmp_dir / TOKENIZER_FILE
        shutil.copyfile(src / TOKENIZER_FILE, tok_tmp)
        info = {
            "format_version": EXPORT_FORMAT_VERSION,
            "source_model": source_name,
            "source_path": str(src),
            "weights_file": weights.name,
            "weights_sha256": file_sha256(weights),
            "quantize": quantize,
            "opset": opset,
            "dim": dim,
            "max_tokens": max_tokens,
            "pooling": "mean",
            "normalized": True,
            "residual_sums": rewritten,
            "onnx_sha256": file_sha256(model_tmp),
            "tokenizer_sha256": file_sha256(tok_tmp),
            "versions": _versions(),
        }
        info_tmp = tmp_dir / EXPORT_INFO_FILE
        info_tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        # Drop the old marker first: a crash between the moves leaves a folder that is
        # visibly incomplete rather than an old marker describing a new model.
        (out_dir / EXPORT_INFO_FILE).unlink(missing_ok=True)
        os.replace(model_tmp, out_dir / MODEL_FILE)
        os.replace(tok_tmp, out_dir / TOKENIZER_FILE)
        os.replace(info_tmp, out_dir / EXPORT_INFO_FILE)
    return out_dir


def _export_fp32(src: Path, onnx_path: Path, *, opset: int) -> tuple[int, int]:
    """Trace transformer + pooling + normalisation to ``onnx_path``; return the embedding dim
    and the number of residual sums rewritten for onnxruntime."""
    import warnings

    import torch
    from transformers import AutoModel

    # Eager attention with a ready-made additive 4-D mask: transformers 5 builds the 2-D -> 4-D
    # mask with Python branching on shapes, which tracing would freeze at the probe's shape.
    model = AutoModel.from_pretrained(str(src), local_files_only=True, attn_implementation="eager")

    class _Pooled(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            mask = attention_mask.to(torch.float32)
            additive = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
            states = self.encoder(
                input_ids=input_ids, attention_mask=additive, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = mask.unsqueeze(-1)
            pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    wrapper = _Pooled(model).eval()
    # Probe with two rows of different real lengths so padding is part of the trace.
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 2023, 102, 0, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    types = torch.zeros_like(ids)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript exporter deprecation and tracer chatter
        torch.onnx.export(
            wrapper,
            (ids, mask, types),
            str(onnx_path),
            dynamo=False,  # the dynamo exporter needs onnxscript; the tracer needs nothing extra
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "sentence_embedding": {0: "batch"},
            },
            opset_version=opset,
            do_constant_folding=True,
        )
        expected = wrapper(ids, mask, types).numpy()
    rewritten = _without_skip_layer_norm(onnx_path)
    # A trace can silently freeze a shape; check the graph on a different shape than the probe.
    ort = import_onnxruntime()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "token_type_ids": types.numpy()})[0]
    longer = torch.tensor([[101] + [2023, 2003, 1037, 3231] * 5 + [102]], dtype=torch.int64)
    with torch.no_grad():
        expected_longer = wrapper(longer, torch.ones_like(longer), torch.zeros_like(longer)).numpy()
    got_longer = session.run(
        None,
        {
            "input_ids": longer.numpy(),
            "attention_mask": np.ones_like(longer.numpy()),
            "token_type_ids": np.zeros_like(longer.numpy()),
        },
    )[0]
    cosines = np.concatenate([(got * expected).sum(axis=1), (got_longer * expected_longer).sum(axis=1)])
    if float(cosines.min()) < _EXPORT_MIN_COSINE:
        raise OnnxModelError(f"exported graph disagrees with torch (cosine {cosines.min():.5f}); export refused")
    return int(expected.shape[1]), rewritten


def _without_skip_layer_norm(onnx_path: Path) -> int:
    """Write each residual ``Add`` that feeds a LayerNormalization as ``Sum`` (the same sum);
    return how many.

    At load, onnxruntime fuses Add + LayerNormalization into SkipLayerNormalization, whose
    CPU kernel (onnxruntime 1.32) takes ~48 µs for a 22 x 384 question against ~13 µs for
    the two ops it replaces; its fusion matches ``Add`` only. A question embeds in ~6 % less
    CPU; the vectors move by rounding only, and kb eval figures are unchanged to three places
    on every set (docs/performance.md).
    """
    import onnx

    model = onnx.load(str(onnx_path))
    graph = model.graph
    fixed = {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    producer = {out: node for node in graph.node for out in node.output}
    rewritten = 0
    for node in graph.node:
        if node.op_type != "LayerNormalization":
            continue
        add = producer.get(node.input[0])
        # Only a sum of two computed tensors (a residual), not a bias Add with a weight.
        if add is not None and add.op_type == "Add" and not any(name in fixed for name in add.input):
            add.op_type = "Sum"
            rewritten += 1
    onnx.save(model, str(onnx_path))
    return rewritten


def _read_max_seq_length(src: Path) -> int:
    config = src / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if value:
            return int(value)
    return 512  # BERT position embeddings; sentence-transformers uses this when unset


def weights_file(src: Path) -> Path | None:
    """The weights file of a sentence-transformers folder, or None."""
    return next((src / f for f in _WEIGHT_FILES if (src / f).is_file()), None)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            pass
    return found


# --------------------------------------------------------------------------- serve


def read_export_info(model_dir: Path) -> dict:
    """The ``onnx_export.json`` of a model folder; raises ``OnnxModelError`` if incomplete."""
    model_dir = Path(model_dir)
    info_path = model_dir / EXPORT_INFO_FILE
    missing = [name for name in (EXPORT_INFO_FILE, MODEL_FILE, TOKENIZER_FILE) if not (model_dir / name).is_file()]
    if missing:
        raise OnnxModelError(
            f"{model_dir} is not a complete ONNX model folder (missing {', '.join(missing)}); "
            "create it with kb_service.models.onnx.export_onnx"
        )
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if info.get("format_version") != EXPORT_FORMAT_VERSION:
        raise OnnxModelError(
            f"{info_path} has format version {info.get('format_version')!r}, expected "
            f"{EXPORT_FORMAT_VERSION}: export the model again"
        )
    return info


class OnnxEmbedder:
    """onnxruntime + ``tokenizers`` backend for an ``export_onnx`` folder. Never imports torch.

    The constructor reads only the small export json; the session and tokenizer load on
    ``warm_up()`` or first use. ``encode`` may be called from several threads at once: the
    session is thread-safe and the tokenizers are configured once and then only read.
    """

    def __init__(self, model_dir: Path, *, name: str, threads: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, not {threads}")
        self.model_dir = Path(model_dir)
        self.info = read_export_info(self.model_dir)
        self.name = name
        self.dim = int(self.info["dim"])
        self.max_tokens = int(self.info["max_tokens"])
        self.quantize = str(self.info["quantize"])
        self._threads = threads
        self._lock = threading.Lock()
        self._session = None
        self._input_names: tuple[str, ...] = ()
        self._tokenizer = None  # truncates to max_tokens, pads to the longest row of a batch
        self._counter = None  # neither truncates nor pads: counts what a chunk really costs

    def warm_up(self) -> None:
        """Load the session and tokenizers and run one embedding, so the first question is fast."""
        self.encode(["warm up"])

    def _load(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    ort = import_onnxruntime()
                    # Verify-and-pin: the bytes that are checked are the bytes the session
                    # and the tokenizer are built from, so a damaged file is refused by name.
                    model_bytes = self._verified(MODEL_FILE, "onnx_sha256")
                    tokenizer_text = self._verified(TOKENIZER_FILE, "tokenizer_sha256").decode("utf-8")
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = self._threads
                    options.inter_op_num_threads = 1
                    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    # Idle intra-op threads sleep instead of spinning. A spinning pool takes
                    # the CPU the event loop and the other request threads need: on 2 busy
                    # cores it tripled the p95 of one embedding (docs/performance.md).
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    session = ort.InferenceSession(
                        model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
                    )
                    self._input_names = tuple(i.name for i in session.get_inputs())
                    self._tokenizer = self._load_tokenizer(tokenizer_text, truncate=True)
                    self._counter = self._load_tokenizer(tokenizer_text, truncate=False)
                    self._session = session
        return self._session

    def _verified(self, name: str, checksum_key: str) -> bytes:
        """The bytes of ``name``, refused unless they match the export info's checksum.

        Exports made before ``tokenizer_sha256`` was recorded have only the model's."""
        path = self.model_dir / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise OnnxModelError(f"{path} cannot be read ({exc.strerror or exc}): run `kb ingest`") from exc
        expected = self.info.get(checksum_key)
        if (expected or checksum_key == "onnx_sha256") and hashlib.sha256(data).hexdigest() != expected:
            raise OnnxModelError(f"{path} is corrupt (sha256 does not match {EXPORT_INFO_FILE}): delete "
                                 f"{self.model_dir} and run `kb ingest` to export it again")
        return data

    def _load_tokenizer(self, text: str, *, truncate: bool):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(text)
        # The shipped tokenizer.json pads and truncates to 128; the model window is max_tokens.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        if truncate:
            tokenizer.enable_truncation(max_length=self.max_tokens)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest row
        return tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes, special tokens included, before any truncation."""
        self._load()
        return len(self._counter.encode(text, add_special_tokens=True).ids)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Float32 ``(len(texts), dim)``, L2-normalised; text beyond ``max_tokens`` is cut off."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one str")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        session = self._load()
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Longest first, as sentence-transformers does: rows of a batch have similar lengths,
        # so per-batch padding wastes little (about twice the passages/s of input order at batch 16).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = [texts[i] for i in rows]
            encodings = self._tokenizer.encode_batch(batch, add_special_tokens=True)
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            vectors = session.run(None, {name: feeds[name] for name in self._input_names})[0]
            out[rows] = vectors
        return out

    def __repr__(self) -> str:
        return f"OnnxEmbedder(name={self.name!r}, model_dir={str(self.model_dir)!r}, quantize={self.quantize!r})"
