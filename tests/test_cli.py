"""The kb command line, run as users run it: a real process, real model, real index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DEV_SET, needs_shared_corpus

KB = [sys.executable, "-m", "kb_service.cli"]


def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([*KB, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def write_config(tmp_path: Path, docs: Path, extra: str = "") -> Path:
    config = tmp_path / "kb.toml"
    config.write_text(
        f'index = "{tmp_path / "index"}"\n{extra}\n'
        f'[[sources]]\nname = "docs"\nroot = "{docs}"\nlang = "en"\nentry = ["help/using/start/guide.md"]\n'
        f'[[sources]]\nname = "gone"\nroot = "{tmp_path / "nowhere"}"\nlang = "fr"\noptional = true\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    guide = root / "help/using/start/guide.md"
    guide.parent.mkdir(parents=True)
    guide.write_text(
        "---\ntitle: Guide\n---\n# Guide {#guide}\n\n## Choose {#choose}\n\n"
        "| Your need | Recommended approach |\n|---|---|\n| Cart abandonment | Journeys |\n\n"
        "See [missing](../nowhere/page.md) and [also missing](other.md).\n\n```\nunterminated fence\n",
        encoding="utf-8",
    )
    return root


def test_ingest_summarises_and_lists_missing_links_only_when_verbose(tmp_path, docs):
    config = write_config(tmp_path, docs)
    first = run("ingest", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert "Indexed 1 pages" in first.stdout and "missing link targets: 2" in first.stdout
    assert "by kind:" in first.stdout and "chunks/s" in first.stdout
    # one warning line for the optional source, one for the unterminated fence; no traceback
    assert "nowhere" in first.stderr and "Traceback" not in first.stderr
    again = run("ingest", "--config", str(config), "--verbose")
    assert again.returncode == 0 and "Index up to date" in again.stdout


def test_ingest_with_nothing_readable_fails_with_exit_1(tmp_path):
    config = write_config(tmp_path, tmp_path / "no-docs")
    result = run("ingest", "--config", str(config))
    assert result.returncode == 1
    assert "no page could be read" in result.stderr and "Traceback" not in result.stderr


def test_ingest_with_an_unknown_precision_names_the_setting(tmp_path):
    config = write_config(tmp_path, tmp_path / "no-docs")
    result = run("ingest", "--config", str(config), env={"KB_INGEST_PRECISION": "fp16"})
    assert result.returncode != 0
    assert "ingest_precision must be 'auto', 'fp32' or 'bf16'" in result.stderr and "Traceback" not in result.stderr


def test_ask_without_an_index_says_how_to_build_one(tmp_path):
    result = run("ask", "--index", str(tmp_path / "empty"), "which approach for cart abandonment?")
    assert result.returncode != 0
    assert "kb ingest" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [(["ask", "   "], "question is empty"), (["ask", "--lang", "de", "hi"], "--lang must be")])
def test_bad_arguments_are_named(args, message, tmp_path):
    result = run(*args, "--index", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr


@needs_shared_corpus
def test_ask_json_and_readable_output(corpus_index_dir):
    env = {"KB_INDEX": str(corpus_index_dir)}
    as_json = run("ask", "--json", "which approach for cart abandonment?", env=env)
    assert as_json.returncode == 0, as_json.stderr
    answer = json.loads(as_json.stdout)
    assert answer["answer"].startswith("Recommended: Journeys") and not answer["abstained"]
    assert answer["approach"] == "journey" and answer["intent"] == "choose"
    assert answer["citations"][0]["anchor"] in ("decision-guide", "use-cases") and answer["citations"][0]["line_start"] > 0
    readable = run("ask", "Quelle approche pour l'abandon de panier ?", env=env)
    assert readable.returncode == 0 and "[1] " in readable.stdout and "/fr/docs/" in readable.stdout


@needs_shared_corpus
def test_search_and_info_and_eval(corpus_index_dir):
    env = {"KB_INDEX": str(corpus_index_dir)}
    search = run("search", "-k", "3", "--json", "direct mail", env=env)
    assert search.returncode == 0 and len(json.loads(search.stdout)["hits"]) == 3
    info = json.loads(run("info", "--json", env=env).stdout)
    assert info["model"] == "all-MiniLM-L6-v2" and info["counts"]["total"] > 0 and info["built_at"]
    # the keys of GET /v1/index (api/schemas.py IndexInfoPublic), plus the documents' keys
    from kb_service.api.schemas import IndexInfoPublic

    assert set(IndexInfoPublic.model_fields) <= set(info)
    table = run("info", env=env).stdout
    assert "built at" in table and f"{info['counts']['total']}" in table and "{" not in table
    report = run("eval", "--json", str(DEV_SET), env=env)
    assert report.returncode == 0
    overall = json.loads(report.stdout)["overall"]
    assert set(overall) >= {"recall@1", "recall@5", "mrr@10", "ndcg@10", "approach_accuracy", "abstention_accuracy", "false_abstention_rate"}
    assert json.loads(report.stdout)["by_lang"].keys() == {"en", "fr"}


def test_version_and_flags_in_help():
    from kb_service import __version__

    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"kb {__version__}"
    help_text = run("ask", "--help", env={"COLUMNS": "120"}).stdout
    json_line = next(line for line in help_text.splitlines() if "--json" in line)
    assert "<bool>" not in json_line and "Print JSON" in json_line  # a flag, not an option taking a value


def test_a_typo_in_a_choice_setting_is_an_error_naming_the_choices(tmp_path, docs):
    config = write_config(tmp_path, docs, extra='query_backend = "onxx"')
    result = run("ingest", "--config", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "query_backend must be 'onnx' or 'torch', got 'onxx'" in result.stderr
    fusion = run("eval", "--fusion", "rfr", str(DEV_SET), "--index", str(tmp_path))
    assert fusion.returncode == 2 and "--fusion must be 'weighted' or 'rrf', got 'rfr'" in fusion.stderr


@needs_shared_corpus
def test_serve_ends_with_the_line_that_says_where_it_listens(corpus_index_dir, tmp_path):
    import socket
    import time

    with socket.socket() as probe:  # a free port; the OS may hand it out again, rarely
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KB_INDEX": str(corpus_index_dir)}
    with open(log, "wb") as out:
        server = subprocess.Popen([*KB, "serve", "--workers", "1", "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wanted = f"kb is serving http://127.0.0.1:{port} — chat at /, API docs at /docs"
        deadline = time.monotonic() + 300  # a bound for loading the index on a busy machine
        while wanted not in log.read_text(errors="replace") and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the log for a condition, with a deadline
        text = log.read_text(errors="replace")
        assert wanted in text, text
        # printed once /readyz answers, so the server does answer by then
        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
