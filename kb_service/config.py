"""Settings: the only place defaults live.

Precedence: explicit overrides (CLI flags) > environment (``KB_*``) > ``kb.toml`` > defaults.
Relative paths in ``kb.toml`` are resolved against the file's folder, so commands behave the
same from any working directory. Only the edges (CLI, API factory) call ``load_settings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kb_service.types import LANGUAGES, Language, check_choice

QueryBackend = Literal["onnx", "torch"]
IngestBackend = Literal["torch", "onnx"]
OnnxQuantize = Literal["int8", "none"]
IngestPrecision = Literal["auto", "fp32", "bf16"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL_PATTERN = "https://experienceleague.adobe.com/{lang}/docs/journey-optimizer/using/{page}#{anchor}"


class SourceConfig(BaseModel):
    """One folder of Markdown documentation in one language."""

    name: str
    root: Path
    lang: Language
    # {lang}, {page} (path below help/using/ without .md) and {anchor} are filled in per chunk.
    url: str = DEFAULT_URL_PATTERN
    entry: list[str] = Field(default_factory=lambda: ["help/using/start/journeys-vs-campaigns.md"])
    optional: bool = False  # a missing optional root is one warning, not an error

    @field_validator("lang", mode="before")
    @classmethod
    def _known_lang(cls, value: str) -> str:
        return check_choice("lang", value, LANGUAGES)


def _default_sources() -> list[SourceConfig]:
    return [
        SourceConfig(name="guide-fr", root=PROJECT_ROOT / "corpus/fr", lang="fr"),
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KB_", extra="ignore")

    index: Path = PROJECT_ROOT / "index"
    model: str = "all-MiniLM-L6-v2"
    link_depth: int = Field(1, ge=0, le=5)
    sources: list[SourceConfig] = Field(default_factory=_default_sources)
    # Query embeddings: "onnx" (no torch on the query path, exported once next to the index)
    # or "torch" (sentence-transformers, the reference).
    query_backend: QueryBackend = "onnx"
    # int8 (dynamic, per-channel) embeds a question in ~2.4 ms against ~6 ms for fp32, one
    # thread each; over our 223 labelled questions its retrieval figures match fp32's
    # (docs/performance.md). "none" serves the fp32 export.
    onnx_quantize: OnnxQuantize = "int8"
    # Chunk embeddings at ingest: "torch" (sentence-transformers, the reference) or "onnx"
    # (the exported fp32 graph the queries use: cosine >= 0.99999 to torch, no torch model
    # load; not faster for batched chunks on 2 cores, see docs/performance.md). Both build
    # the same index, and re-ingesting with the other backend reuses its vectors.
    ingest_backend: IngestBackend = "torch"
    # Arithmetic of the torch chunk embeddings: "bf16" (autocast; CPUs with native bfloat16,
    # AVX512-BF16 or AMX, run it about twice as fast: all 1,142 chunks in 11.9 s against
    # 20.0 s, vectors at cosine >= 0.99997 to fp32), "fp32", or "auto": bf16 where the CPU
    # has it natively, fp32 elsewhere (emulated bf16 would be slower). Queries never use it.
    ingest_precision: IngestPrecision = "auto"
    # Intra-op threads of the query embedder. One: a question is too short for a second
    # thread to pay (int8: 2.4 ms on 1 thread, 2.2 ms on 2 for 40 % more CPU), and concurrent
    # requests already keep both cores busy with one embedding each.
    threads: int = Field(1, ge=1, le=64)
    # Threads embedding chunks at ingest, where batches of long passages do use both cores.
    ingest_threads: int = Field(2, ge=1, le=64)

    # Server
    admin_key: str | None = None
    api_keys: str | None = None  # comma-separated; when set, query routes need one
    cors_origins: str = ""  # comma-separated; empty = CORS closed
    max_body_bytes: int = 64 * 1024
    max_question_chars: int = 2000
    max_messages: int = 50
    max_concurrency: int = 64  # in-flight requests past which the server answers 503
    rate_limit_per_minute: int = 0  # per API key or client address; 0 = off
    # Failed authentications (401) allowed per client address a minute, whether or not the
    # rate limit is on; past it, that address gets 429 whatever key it sends. 0 = off.
    auth_failures_per_minute: int = Field(30, ge=0)
    # Where the limits' counters live. Unset: in memory for one process, in a SQLite file in
    # the run folder for the workers of one `kb serve --workers N` (api/rate_limit.py), so
    # that the limit holds for the server, not per worker. Set (redis://host:port/db): in
    # Redis, shared by every replica that names the same Redis.
    redis_url: str | None = None
    # Comma-separated addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For
    # and X-Forwarded-Proto are believed; empty = none, the peer address is the client.
    # Anything else could name itself any address and dodge the per-address limits.
    trusted_proxies: str = ""
    request_timeout_s: float = 10.0
    # Seconds a client may take to send a request's body; past it: 408, and the connection
    # is closed. A body still arriving does not count against max_concurrency.
    body_timeout_s: float = Field(10.0, gt=0)
    # Seconds an open connection may wait with no complete request (idle keep-alive, or
    # headers sent halfway) before the server closes it.
    idle_timeout_s: float = Field(5.0, gt=0)
    log_questions: bool = False
    # Worker processes for `kb serve`. Two: one process stops near 250 answers/s because its
    # event loop and answer code share one GIL; two processes, each on its own SO_REUSEPORT
    # socket (api/supervisor.py), use both cores: 293 vs 207-230 req/s at c=16 measured side
    # by side, for 456 MB summed peak RSS (docs/performance.md). Reloads and /metrics cover
    # every worker (api/workers.py), so does the rate limit (api/rate_limit.py); max_concurrency
    # applies per worker.
    workers: int = Field(2, ge=1, le=16)
    # Threads running searches and answers at once; 0 answers on the event loop itself.
    # Unset (auto): 0 in a worker of several, 2 in a single process. Answering on the loop
    # spares every request a thread hand-off and the GIL contention that comes with it
    # (about 0.3-0.6 ms of CPU a request): with two worker processes each core has its own
    # process anyway (c=16: 324-372 req/s on the loop vs 302-347 with 2 threads, runs
    # interleaved). A single process needs its threads: the embedding of one request runs
    # outside the GIL while the loop serves others (281/265 req/s with 2 threads, 248/253
    # with 4, 179/185 with 1; docs/performance.md). On the loop, request_timeout_s cannot
    # answer 504 early: an answer, once started, is given (they take milliseconds).
    worker_threads: int | None = Field(None, ge=0, le=64)

    # What is specific to one product's docs (the options its comparison guide compares, a
    # vocabulary, a fitted calibration): a bundled profile name ("journey-optimizer"), a
    # folder holding profile.toml, or "" for none: kb then answers from any documentation
    # and names no option. kb.toml sets the Journey Optimizer profile.
    profile: str = ""

    # MCP (/mcp on `kb serve`, and `kb mcp`). Host headers /mcp answers to, comma-separated
    # ("host:port", or "host:*" for any port): the SDK refuses others (421), so a web page on
    # another name that resolves here (DNS rebinding) cannot call it. Add the public name the
    # server is reached under when it is not local.
    mcp_allowed_hosts: str = "127.0.0.1:*,localhost:*,[::1]:*"
    # Default length of a tool result's text; a client may ask for 500-20000 (max_chars).
    mcp_max_chars: int = Field(4000, ge=500, le=20000)
    # Answer records and feedback (docs/feedback.md). Unset database_url: a SQLite file in
    # data_dir, itself "data" beside the index folder when unset. store_questions keeps the
    # question text in that database (the gaps report needs it); the logs stay question-free
    # unless log_questions is on. retention_days: answers older are purged (0 keeps all).
    database_url: str | None = None
    data_dir: Path | None = None
    store_questions: bool = True
    retention_days: int = Field(90, ge=0)
    record_queue: int = Field(10_000, ge=1, le=1_000_000)
    # Replicas serving a folder that `kb publish` writes (KB_INDEX=<shared folder>): every
    # poll_s seconds, read its CURRENT pointer and load a build other than the one served
    # (checksums verified, loaded beside the old one, then swapped in). 0 = only on
    # POST /v1/admin/reload. docs/scaling.md.
    poll_s: float = Field(0.0, ge=0, le=3600)
    # On SIGTERM, how long /readyz answers 503 ("draining") while requests are still served,
    # so the load balancer's health checks take the replica out before it stops accepting
    # (HAProxy in deploy/: 1 s checks, 2 failures). Then in-flight requests get up to
    # request_timeout_s to finish and the process exits 0. SIGINT (Ctrl-C) skips the delay.
    drain_s: float = Field(3.0, ge=0, le=300)
    # Seconds an idle keep-alive connection stays open on the server. Longer than the clients'
    # own idle expiry (httpx: 5 s, Python's and browsers' pools: about that or less), so that
    # the client is the one that closes an idle connection. With both at 5 s (uvicorn's
    # default), a request sent just as the server closed the connection is reset unanswered:
    # the slow load test's ReadErrors (3 of 4,723; reproduced under CPU load: the server never
    # saw the request, TCPAbortOnData counted the reset). An idle connection costs a socket.
    keep_alive_s: int = Field(75, ge=1, le=3600)

    # Remote mode for the CLI
    url: str | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        # Checked here so that a mistyped URL stops `kb serve` at start with the reason,
        # rather than every answer record being dropped quietly.
        if value and not value.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres", "sqlite"):
            raise ValueError("database_url must start with postgresql:// (or sqlite:///); leave it unset for the "
                             "SQLite file in data_dir")
        return value or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in (self.api_keys or "").split(",") if k.strip()]

    @property
    def mcp_allowed_host_list(self) -> list[str]:
        return [h.strip() for h in self.mcp_allowed_hosts.split(",") if h.strip()]

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def data_folder(self) -> Path:
        """Where the SQLite answer database lives: ``data_dir``, else ``data`` beside the index."""
        return self.data_dir if self.data_dir is not None else self.index.parent / "data"


class ConfigError(ValueError):
    """The configuration file or environment is invalid; the message says where."""


def default_config_file() -> Path | None:
    explicit = os.environ.get("KB_CONFIG")
    if explicit:
        return Path(explicit)
    for candidate in (Path.cwd() / "kb.toml", PROJECT_ROOT / "kb.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build Settings from overrides, environment and the TOML file (see module docstring)."""
    path = Path(config_file) if config_file else default_config_file()
    if path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    config: dict[str, Any] = dict(Settings.model_config)
    config["toml_file"] = path
    settings_cls = type("FileSettings", (Settings,), {"model_config": config})
    where = f" in {path}" if path else ""
    try:
        settings = settings_cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration{where} (or KB_* environment): {_explain(exc)}") from exc
    except Exception as exc:  # a TOML decode error
        raise ConfigError(f"invalid configuration{where}: {exc}") from exc
    base = path.resolve().parent if path else PROJECT_ROOT
    return _resolve_paths(settings, base, from_file="index" not in overrides or overrides.get("index") is None)


def _explain(exc: ValidationError) -> str:
    """One readable clause per problem: ``ingest_precision must be 'auto', 'fp32' or 'bf16', got 'fp16'``."""
    clauses = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "value"
        if error["type"] == "literal_error":
            expected = error.get("ctx", {}).get("expected", "")
            clauses.append(f"{name} must be {expected}, got {error['input']!r}")
        else:
            clauses.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(clauses)


def _resolve_paths(settings: Settings, base: Path, from_file: bool) -> Settings:
    # Paths written in the TOML file are relative to it; KB_INDEX and --index are relative to cwd.
    index = settings.index
    if not index.is_absolute():
        index = (Path.cwd() / index) if ("KB_INDEX" in os.environ or not from_file) else (base / index)
    sources = [
        s.model_copy(update={"root": s.root if s.root.is_absolute() else (base / s.root)})
        for s in settings.sources
    ]
    profile = settings.profile
    if profile and ("/" in profile or profile.startswith(".")) and not Path(profile).is_absolute():
        profile = str((base / profile).resolve())  # a profile folder, relative to the file
    data_dir = settings.data_dir
    if data_dir is not None and not data_dir.is_absolute():
        data_dir = (Path.cwd() / data_dir) if "KB_DATA_DIR" in os.environ else (base / data_dir)
    return settings.model_copy(update={"index": index.resolve(), "sources": sources, "profile": profile,
                                       "data_dir": data_dir.resolve() if data_dir is not None else None})
