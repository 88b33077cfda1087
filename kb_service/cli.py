"""kb command line: ingest | search | ask | serve | publish | mcp | eval | bench | info | gaps.

A thin edge: it reads configuration and the environment, then calls KnowledgeBase (or a
remote kb server with --url). Heavy modules are imported inside commands, so that
``kb ask --url ...`` never imports torch, numpy or faiss.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="kb: grounded, cited answers from product documentation.")

LangOption = typer.Option(None, "--lang", help="Answer in this language: en or fr (default: detected).")
# metavar="" shows a flag as a flag in --help (typer would print "<bool>", as if it took a value).
FLAG = ""
JsonOption = typer.Option(False, "--json", metavar=FLAG, help="Print JSON for scripts.")
IndexOption = typer.Option(None, "--index", help="Index folder (default: index/, or KB_INDEX).")
ConfigOption = typer.Option(None, "--config", help="Configuration file (default: kb.toml, or KB_CONFIG).")
UrlOption = typer.Option(None, "--url", help="Ask a running kb server instead of loading the index (or KB_URL).")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kb-service")
    except PackageNotFoundError:  # run from a checkout that was never installed
        from kb_service import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kb {_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, metavar=FLAG,
                                 help="Print kb's version and exit."),
) -> None:
    """kb: grounded, cited answers from product documentation."""


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings(config: Optional[Path], index: Optional[Path]):
    from kb_service.config import ConfigError, load_settings

    try:
        return load_settings(config, index=index)
    except ConfigError as exc:
        _fail(str(exc))


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _check_lang(lang: Optional[str]) -> None:
    from kb_service.types import LANGUAGES, check_choice

    if lang is not None:
        try:
            check_choice("--lang", lang, LANGUAGES)
        except ValueError as exc:
            _fail(str(exc))


def _load_kb(config: Optional[Path], index: Optional[Path]):
    _quiet_libraries()
    settings = _settings(config, index)
    from kb_service.store.index import IndexLoadError
    from kb_service.kb import KnowledgeBase

    kb = KnowledgeBase.from_settings(settings)
    try:
        return kb.load()
    except IndexLoadError as exc:
        _fail(str(exc))


def _remote(url: str, route: str, payload: dict) -> dict:
    import httpx

    try:
        response = httpx.post(url.rstrip("/") + route, json=payload, timeout=30.0,
                              headers=_auth_headers())
    except httpx.HTTPError as exc:
        _fail(f"cannot reach kb server at {url}: {exc}")
    if response.status_code != 200:
        try:
            error = response.json()["error"]
            _fail(f"server said {response.status_code} {error['code']}: {error['message']}")
        except (ValueError, KeyError, TypeError):
            _fail(f"server said {response.status_code}: {response.text[:200]}")
    return response.json()


def _remote_or(url: Optional[str], route: str, payload: dict, embedded) -> dict:
    """Ask the server at ``url`` (or KB_URL) when there is one, else run ``embedded()``.

    Both return the same JSON shape (kb_service.views), so the output is the same either way.
    """
    url = url or os.environ.get("KB_URL")
    if not url:
        return embedded()
    return _remote(url, route, {key: value for key, value in payload.items() if value is not None})


def _auth_headers() -> dict:
    key = os.environ.get("KB_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _question_text(words: list[str]) -> str:
    text = " ".join(words).strip()
    if not text:
        _fail("the question is empty")
    return text


@app.command()
def ingest(
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
    verbose: bool = typer.Option(False, "--verbose", "-v", metavar=FLAG, help="List every missing link target and warning."),
    force: bool = typer.Option(False, "--force", metavar=FLAG, help="Rebuild even when nothing changed."),
) -> None:
    """Chunk, embed and index the configured documentation sources."""
    _quiet_libraries()
    settings = _settings(config, index)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kb_service.models.sentence_transformers import ModelNotAvailable, SentenceTransformerEmbedder, resolve_precision
    from kb_service.store.index import IndexWriteError, IndexLockError
    from kb_service.ingest.pipeline import NothingToIndex, ingest as run_ingest
    from kb_service.kb import ensure_onnx_export

    console = Console(stderr=True, soft_wrap=True)  # one line per message in a log, too
    try:
        # An index folder that cannot exist (a path under a file, no permission) is said once,
        # here, before the export or the embedding meets it in other words.
        settings.index.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(_unusable_index(settings.index, exc), code=1)
    try:
        if settings.ingest_backend == "onnx":
            from kb_service.models.onnx import OnnxEmbedder, OnnxModelError

            try:
                # The fp32 export (made with torch, once) embeds the chunks: no torch model load.
                embedder = OnnxEmbedder(ensure_onnx_export(settings.index, settings.model), name=settings.model,
                                        threads=settings.ingest_threads)
            except OnnxModelError as exc:
                _fail(str(exc))
            except OSError as exc:  # the export goes beside the index: an unusable folder shows here first
                _fail(_unusable_index(settings.index, exc), code=1)
        else:
            try:
                precision = resolve_precision(settings.ingest_precision)
            except ValueError as exc:
                _fail(str(exc))
            embedder = SentenceTransformerEmbedder(settings.model, threads=settings.ingest_threads,
                                                   precision=precision)
    except ModelNotAvailable as exc:
        _fail(str(exc))
    with Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("embed", total=None)

        started: list[bool] = []
        quarters_said: set[int] = set()

        def progress(done: int, total: int) -> None:
            if not started:  # one plain line too, for logs and non-terminal output
                started.append(True)
                typer.echo(f"embedding {total} new or changed chunks (the first run embeds them all)…", err=True)
            bar.update(task, completed=done, total=total)
            quarter = 4 * done // max(total, 1)
            if not console.is_terminal and quarter not in quarters_said and 0 < quarter:
                quarters_said.add(quarter)  # no live bar in a log: a line at 25, 50, 75 and 100 %
                typer.echo(f"  embedded {done}/{total} chunks", err=True)

        try:
            report = run_ingest(sources=settings.sources, link_depth=settings.link_depth,
                                index_root=settings.index, embedder=embedder, progress=progress,
                                stage=lambda line: console.print(line, highlight=False), force=force)
        except NothingToIndex as exc:
            _fail(str(exc), code=1)
        except (IndexWriteError, IndexLockError, OSError) as exc:
            _fail(str(exc), code=1)
    for warning in report.warnings if verbose else report.warnings[:10]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if not verbose and len(report.warnings) > 10:
        console.print(f"[yellow]… {len(report.warnings) - 10} more warnings (--verbose)[/yellow]")
    if settings.query_backend == "onnx":
        from kb_service.models.onnx import OnnxModelError

        try:
            _prepare_onnx_query_model(settings, console)
        except OnnxModelError as exc:
            _fail(str(exc), code=1)
        except OSError as exc:
            _fail(_unusable_index(settings.index, exc), code=1)
    _print_ingest_summary(report, verbose)


def _unusable_index(index: Path, exc: OSError) -> str:
    # The same words as the index layer's IndexWriteError, for the files the CLI writes itself.
    return (f"cannot use {index} as the index folder ({exc.strerror or exc}: {exc.filename or index}); "
            "choose a writable folder (--index or KB_INDEX); nothing was changed")


def _prepare_onnx_query_model(settings, console) -> None:
    """The ONNX query model next to the index: said aloud when it has to be made (once)."""
    import time

    from kb_service.kb import ensure_onnx_export, onnx_model_dir
    from kb_service.models.onnx import OnnxModelError, read_export_info

    try:
        read_export_info(onnx_model_dir(settings.index, settings.model, settings.onnx_quantize))
        return  # already there: nothing to say
    except (OnnxModelError, ValueError):
        pass
    console.print(f"preparing the ONNX query model ({settings.onnx_quantize}): a one-time export, "
                  "or a copy from the export cache when it holds one…", highlight=False)
    started = time.perf_counter()
    ensure_onnx_export(settings.index, settings.model, settings.onnx_quantize)
    console.print(f"ONNX query model ready ({time.perf_counter() - started:.1f} s)", highlight=False)


def _print_ingest_summary(report, verbose: bool) -> None:
    out = typer.echo
    if report.up_to_date:
        out(f"Index up to date: {report.pages} pages, {report.chunks} chunks, nothing embedded "
            f"({report.seconds:.2f} s).")
        return
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.chunks_by_kind.items()))
    langs = ", ".join(f"{k} {v}" for k, v in sorted(report.chunks_by_lang.items()))
    out(f"Indexed {report.pages} pages into {report.chunks} chunks ({langs}).")
    out(f"  by kind: {kinds}")
    out(f"  pages: {len(report.pages_added)} added, {len(report.pages_changed)} changed, "
        f"{len(report.pages_removed)} removed, {len(report.pages_unchanged)} unchanged")
    out(f"  chunks: {report.embedded} embedded, {report.reused} reused")
    out(f"  missing link targets: {len(report.missing_links)}" + ("" if verbose or not report.missing_links else " (--verbose lists them)"))
    if verbose:
        for page, target in report.missing_links:
            out(f"    {page} -> {target}")
    out(f"  {report.seconds:.1f} s, {report.chunks_per_second:.1f} chunks/s; build {report.build_dir.name if report.build_dir else '-'}")


@app.command()
def search(
    query: list[str] = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(10, "-k", min=1, max=50, help="Number of results."),
    lang: Optional[str] = LangOption,
    path_prefix: Optional[str] = typer.Option(None, "--path-prefix", help="Only pages under this path."),
    as_json: bool = JsonOption,
    url: Optional[str] = UrlOption,
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
) -> None:
    """Show the best-matching sections for a query."""
    text = _question_text(query)
    _check_lang(lang)
    from kb_service.views import format_hits

    def embedded() -> dict:
        from kb_service.views import hit_view

        result = _load_kb(config, index).search(text, k=k, lang=lang, path_prefix=path_prefix)
        return {"hits": [hit_view(h) for h in result.hits], "took_ms": round(result.took_ms, 3)}

    payload = {"query": text, "k": k, "lang": lang, "path_prefix": path_prefix}
    data = _remote_or(url, "/v1/search", payload, embedded)
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else format_hits(data["hits"]))


@app.command()
def ask(
    question: list[str] = typer.Argument(..., help="The question, in English or French."),
    k: int = typer.Option(5, "-k", min=1, max=50, help="Sections to consider."),
    lang: Optional[str] = LangOption,
    as_json: bool = JsonOption,
    url: Optional[str] = UrlOption,
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
) -> None:
    """Answer a question from the docs, with citations (or say the docs don't cover it)."""
    text = _question_text(question)
    _check_lang(lang)
    from kb_service.views import format_answer

    def embedded() -> dict:
        from kb_service.views import answer_view

        kb = _load_kb(config, index)
        return answer_view(kb.ask(text, k=k, lang=lang), index_build=kb.info().get("build"))

    data = _remote_or(url, "/v1/ask", {"question": text, "k": k, "lang": lang}, embedded)
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else format_answer(data))


@app.command(name="eval")
def eval_(
    files: list[Path] = typer.Argument(..., help="Question sets in the ../shared/eval JSONL format: single questions and conversations."),
    as_json: bool = JsonOption,
    failures: Optional[bool] = typer.Option(
        None, "--failures/--no-failures",
        help="List the failed questions and conversations (default: listed, except for a held-out "
             "set, a file whose name contains 'fresh2' to 'fresh26', which is scored without its failures being read).",
    ),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="Fusion to compare: weighted (the default) or rrf."),
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
) -> None:
    """Score retrieval, answers, conversations and intents on question sets (one report per file)."""
    from kb_service.evaluation import evaluate, format_report, lists_failures_by_default, load_questions, without_failures

    sets = []
    for file in files:
        try:
            sets.append((file, load_questions(file)))
        except (OSError, ValueError) as exc:
            _fail(str(exc))
    if fusion is not None:
        from kb_service.types import FUSIONS, check_choice

        try:
            check_choice("--fusion", fusion, FUSIONS)
        except ValueError as exc:
            _fail(str(exc))
    kb = _load_kb(config, index)
    if fusion:
        kb.retriever.fusion = fusion
    reports = {}
    for file, questions in sets:
        report = evaluate(kb, questions)
        listed = lists_failures_by_default(file) if failures is None else failures
        reports[str(file)] = report if listed else without_failures(report)
    if as_json:
        # One file: its report, as always; several: {"files": {file: report}}.
        data = next(iter(reports.values())) if len(reports) == 1 else {"files": reports}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        typer.echo("\n\n".join(format_report(report, name) for name, report in reports.items()))


@app.command()
def info(
    as_json: bool = JsonOption,
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
) -> None:
    """Summarise the live index (model, counts, build time); --json in the keys of /v1/index."""
    settings = _settings(config, index)
    from kb_service.store.index import read_manifest
    from kb_service.views import format_index, index_view

    manifest = read_manifest(settings.index)
    if manifest is None:
        _fail(f"no index at {settings.index}: run `kb ingest`", code=1)
    view = index_view(manifest, settings.query_backend)
    if as_json:
        view["document_keys"] = sorted(manifest.get("documents", {}))
        typer.echo(json.dumps(view, ensure_ascii=False, indent=2))
    else:
        typer.echo(format_index(view))


def _default_question_sets() -> list[Path]:
    from kb_service.config import PROJECT_ROOT

    candidates = [PROJECT_ROOT.parent / "shared" / "eval" / "dev.jsonl", PROJECT_ROOT / "eval" / "questions.jsonl"]
    return [path for path in candidates if path.is_file()]


@app.command()
def publish(
    source: Path = typer.Argument(..., help="An index folder (its current build) or one build folder."),
    to: Path = typer.Option(..., "--to", help="The shared folder replicas serve (their KB_INDEX)."),
    questions: Optional[list[Path]] = typer.Option(
        None, "--questions", help="Question sets to replay on both builds (repeatable; default: "
        "../shared/eval/dev.jsonl and eval/questions.jsonl)."),
    tolerance: float = typer.Option(0.02, "--tolerance", min=0.0, max=1.0,
                                    help="Largest drop allowed in Recall@5, MRR@10, approach or abstention accuracy."),
    force: bool = typer.Option(False, "--force", help="Promote even when answer quality drops (never a corrupt build)."),
    keep: int = typer.Option(3, "--keep", min=1, help="Published builds to keep (replicas may still read older ones)."),
    recent: float = typer.Option(7.0, "--recent", min=0.0,
                                 help="Also replay the real questions answered in the last N days (feedback store; "
                                 "0: none): the new build must go on answering them."),
    recent_limit: int = typer.Option(500, "--recent-limit", min=1, help="At most this many recent questions."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Copy a build to a shared folder and make it current there if answers do not get worse.

    First every file of the copy is checked against its sha256.
    Then the question sets are replayed on the new build and on the current one.
    CURRENT moves only if no gated metric drops by more than --tolerance.
    """
    _quiet_libraries()
    settings = _settings(config, None)
    from kb_service.evaluation import load_questions
    from kb_service.promotion import format_comparison, publish as run_publish
    from kb_service.store.publish import PublishError

    files = questions or _default_question_sets()
    if not files:
        _fail("no question set found: pass --questions FILE (the eval JSONL format)")
    question_sets = {}
    for path in files:
        try:
            question_sets[path.name] = load_questions(path)
        except (OSError, ValueError) as exc:
            _fail(f"cannot read the question set {path}: {exc}")
    if recent > 0:
        recent_questions = _recent_questions(settings, recent, recent_limit)
        if recent_questions:
            from kb_service.promotion import RECENT_SET

            question_sets[RECENT_SET] = recent_questions
    try:
        outcome = run_publish(source, to.resolve(), question_sets=question_sets, tolerance=tolerance, force=force,
                              keep=keep, query_backend=settings.query_backend, onnx_quantize=settings.onnx_quantize,
                              threads=settings.threads, profile=settings.profile or None)
    except PublishError as exc:
        _fail(str(exc), code=1)
    for note in outcome.notes:
        typer.echo(note, err=True)
    if outcome.comparisons:
        typer.echo(format_comparison(outcome.comparisons, outcome.previous, outcome.build))
    if outcome.drops and not outcome.promoted:
        typer.echo(f"refused: answer quality dropped beyond the tolerance of {tolerance:g}:", err=True)
        for drop in outcome.drops:
            typer.echo(f"  {drop}", err=True)
        typer.echo(f"CURRENT still names {outcome.previous}; --force promotes anyway.", err=True)
        raise typer.Exit(1)
    if outcome.promoted:
        swept = f"; removed old builds {', '.join(outcome.removed)}" if outcome.removed else ""
        typer.echo(f"published {outcome.build} to {to} (was {outcome.previous or 'nothing'}){swept}")


def _recent_questions(settings, days: float, limit: int) -> list[dict]:
    """Real questions from the feedback store (none when there is no store yet)."""
    import time as _time

    from kb_service.feedback.store import AnswerStore, StoreError, database_url

    try:
        store = AnswerStore(database_url(settings.database_url, settings.data_folder))
        if settings.database_url is None and not (settings.data_folder / "answers.sqlite3").is_file():
            return []
        store.open()
        try:
            return store.recent_questions(_time.time() - days * 86400, limit)
        finally:
            store.close()
    except StoreError as exc:
        typer.echo(f"recent questions not replayed: {exc}", err=True)
        return []


@app.command()
def gaps(
    since: str = typer.Option("7d", "--since", help="How far back: a number and s, m, h, d or w (e.g. 7d, 24h)."),
    replay: bool = typer.Option(False, "--replay", help="First replay the open gaps against the current index build."),
    as_json: bool = JsonOption,
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
) -> None:
    """Show what users asked that the docs did not answer, grouped into topics."""
    from kb_service.feedback import AnswerStore, StoreError, database_url, gaps_report, parse_since, replay_gaps

    try:
        since_s = parse_since(since)
    except ValueError as exc:
        _fail(f"--{exc}")
    settings = _settings(config, index)
    try:
        store = AnswerStore(database_url(settings.database_url, settings.data_folder)).open()
    except StoreError as exc:
        _fail(str(exc), code=1)
    kb = _load_kb(config, index)
    build = kb.info().get("build")
    try:
        replayed = replay_gaps(store, kb, build, claim=False) if replay and build else None
        report = gaps_report(store, kb, since_s=since_s, build=build)
    except StoreError as exc:
        _fail(str(exc), code=1)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({**report, "replayed": replayed} if replay else report, ensure_ascii=False, indent=2))
        return
    from kb_service.feedback.terminal import print_report

    print_report(report, replayed)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, max=16,
                                          help="worker processes (default: the workers setting, 2; 1 runs uvicorn in this process)."),
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
) -> None:
    """Run the HTTP API (REST, chat, OpenAI-compatible) with uvicorn."""
    _quiet_libraries()
    settings = _settings(config, index)
    if config:
        os.environ["KB_CONFIG"] = str(config)
    os.environ["KB_INDEX"] = str(settings.index)
    workers = workers or settings.workers
    typer.echo(f"kb serve: loading the index {settings.index} ({workers} worker"
               f"{'s' if workers > 1 else ''}) on {host}:{port}…", err=True)
    if workers > 1:
        # One socket per worker (SO_REUSEPORT) under a standard-library supervisor, which
        # replaces this process so that the CLI's imports do not stay resident
        # (api/supervisor.py: why not uvicorn's own workers).
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "kb_service.api.supervisor", "--host", host,
                                  "--port", str(port), "--workers", str(workers)])
    from kb_service.api.announce import announce_in_background
    from kb_service.api.lifecycle import run  # only here: the supervisor above replaces this process

    announce_in_background(host, port)  # "kb is serving …" once /readyz answers 200
    run(host, port)  # SIGTERM drains first (/readyz 503 for drain_s), then stops and exits 0


@app.command()
def mcp(
    url: Optional[str] = typer.Option(None, "--url", help="Forward to a running kb server (or KB_URL) instead of "
                                                          "loading the index; KB_API_KEY is sent as its key."),
    config: Optional[Path] = ConfigOption,
    index: Optional[Path] = IndexOption,
) -> None:
    """Serve the docs to an AI assistant over MCP (stdio): search_docs, ask_docs, get_section."""
    settings = _settings(config, index)
    from kb_service.mcp_server.backends import LocalBackend, RemoteBackend
    from kb_service.mcp_server.server import build_server

    url = url or os.environ.get("KB_URL")
    stop_recording = None
    if url:
        if not url.startswith(("http://", "https://")):
            _fail(f"--url must be an http:// or https:// URL, got {url!r}")
        # The server records the answers; its /v1/ask gives the answer_id.
        backend = RemoteBackend(url, api_key=os.environ.get("KB_API_KEY"))
    else:
        # Loaded before the protocol starts, so a missing index is an error message and exit
        # code the client's log shows, not a server that fails every call.
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the protocol's: nothing else on it
            kb = _load_kb(config, index)
        recorder, stop_recording = _answer_recorder(settings, kb)
        backend = LocalBackend(kb, recorder)
    server = build_server(backend, max_chars=settings.mcp_max_chars, max_question_chars=settings.max_question_chars)
    try:
        server.run("stdio")  # stdout carries the protocol from here on; messages go to stderr
    finally:
        if stop_recording is not None:
            # The client ends a stdio server by closing stdin, then by SIGTERM: either way the
            # answers still queued are written before the process ends (within the stop bound).
            stop_recording()


def _answer_recorder(settings, kb):
    """A started AnswerRecorder on the configured database (SQLite in the data folder by
    default) for the answers `kb mcp` gives, and the function that stops it (once, whoever
    calls first: the end of the protocol or a SIGTERM, which then ends the process)."""
    import threading

    from kb_service.feedback import AnswerRecorder, StoreError

    try:
        recorder = AnswerRecorder.from_settings(settings)
    except StoreError as exc:
        _fail(str(exc))
    recorder.build = kb.info().get("build")
    recorder.start()  # opens the database in its own thread: answers flow even when it cannot
    stopping = threading.Lock()

    def stop() -> None:
        with stopping:  # a second call waits for the first, then finds the writer stopped
            recorder.stop()

    def stop_and_exit() -> None:
        stop()
        os._exit(0)  # not sys.exit: the thread reading stdin would keep the process alive

    def terminated(_signum, _frame) -> None:
        # In a thread of its own: the handler may have interrupted the loop inside record().
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        threading.Thread(target=stop_and_exit, name="kb-mcp-stop").start()

    signal.signal(signal.SIGTERM, terminated)
    return recorder, stop


@app.command()
def bench(args: list[str] = typer.Argument(None, help="Arguments passed to scripts/bench.py.")) -> None:
    """Run the benchmark (scripts/bench.py) and write its JSON and Markdown table."""
    import runpy

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    if not script.is_file():
        _fail(f"benchmark script not found at {script}")
    sys.argv = [str(script), *(args or [])]
    runpy.run_path(str(script), run_name="__main__")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
