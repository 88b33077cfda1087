"""kb end-to-end benchmark: cold start, ingest, warm in-process latency, HTTP load, memory, scale-out.

    python scripts/bench.py                    # everything (ingest into a fresh temp index)
    python scripts/bench.py --skip-ingest      # serve and query the configured index as is
    python scripts/bench.py --scale-out-only   # 1, 2, 3 replicas behind HAProxy (needs haproxy)
    kb bench -- --duration 5 --concurrency 1,4

Writes bench/results.json and bench/results.md (and prints the table). Every loop is bounded
by a count and a time; every server this script starts is stopped, also on failure. Servers
listen on 127.0.0.1 only. The client shares the machine with the server: on 2 cores the
load generator takes CPU from the server, so throughput here is a floor, not a ceiling.

Questions come from eval/questions.jsonl and ../shared/eval/dev.jsonl, plus simple variations
(a greeting, a trailing "please", lower case, ...), so every timed request is a question the
server has not embedded before (its question-embedding cache is an LRU), unless a section
says "cached".
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import itertools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))  # loadgen, also when run as `kb bench`

from kb_service.understand.small_talk import without_greeting  # noqa: E402  (light: no model, no index)
from ports import free_port  # noqa: E402

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
_SERVERS: list[subprocess.Popen] = []

# ---------------------------------------------------------------- questions

# Context in front of the question, as users give it. Not greetings: kb drops "Hello!" or
# "Quick question:" before answering (small_talk.without_greeting), so a greeting variant
# would be answered from the cache, not measured.
_PREFIX = {
    "en": ["", "For our retail brand, ", "As a bank, ", "For the EU market, ", "In our CRM team, ",
           "For a travel company, ", "On mobile, ", "This quarter, ", "For a small shop, ", "At our agency, "],
    "fr": ["", "Pour notre marque de mode, ", "En tant que banque, ", "Pour le marché européen, ",
           "Dans notre équipe CRM, ", "Pour une agence de voyage, ", "Sur mobile, ", "Ce trimestre, ",
           "Pour une petite boutique, ", "Dans notre agence, "],
}
_SUFFIX = {
    "en": ["", " please", " thanks", " in Journey Optimizer", " for our team", " (marketing)"],
    "fr": ["", " s'il vous plaît", " merci", " dans Journey Optimizer", " pour notre équipe", " (marketing)"],
}


def base_questions() -> list[tuple[str, str]]:
    """(question, lang) from the project's and the shared evaluation sets, in file order."""
    found = []
    for path in (REPO / "eval" / "questions.jsonl", REPO.parent / "shared" / "eval" / "dev.jsonl"):
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                found.append((item["question"], item.get("lang", "en")))
    if not found:
        sys.exit("no evaluation questions found (eval/questions.jsonl)")
    return found


def distinct_questions(limit: int) -> list[str]:
    """Up to ``limit`` distinct questions: the originals first, then variations of them."""
    base = base_questions()
    seen: set[str] = set()
    out: list[str] = []
    for lower, suffix_i, prefix_i in itertools.product((False, True), range(6), range(10)):
        for question, lang in base:
            text = question.rstrip(" ?")
            ends = " ?" if lang == "fr" else "?"
            variant = _PREFIX[lang][prefix_i] + text + _SUFFIX[lang][suffix_i] + (ends if question.rstrip().endswith("?") else "")
            variant = variant.lower() if lower else variant
            key = " ".join(without_greeting(variant).split())  # what the embedding cache keys on
            if key not in seen:
                seen.add(key)
                out.append(variant)
                if len(out) >= limit:
                    return out
    return out


# ---------------------------------------------------------------- helpers


def percentiles(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"n": 0}
    ordered = sorted(values_ms)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 3)

    return {"n": len(ordered), "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": round(ordered[-1], 3)}


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_avg_at_start": load,
    }


def kb_command() -> list[str]:
    script = Path(sys.executable).parent / "kb"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kb_service.cli"]


def proc_status(pid: int, field: str) -> int | None:
    """A /proc/<pid>/status field in kB (VmHWM, VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def loads_torch(pid: int) -> bool:
    """Whether a running process has torch's shared library mapped (i.e. imported torch)."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def timed_run(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env or ENV, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-800:]}")
    return elapsed, done


# ---------------------------------------------------------------- server


def start_server(index: Path, port: int, log_dir: Path) -> subprocess.Popen:
    cmd = kb_command() + ["serve", "--host", "127.0.0.1", "--port", str(port), "--index", str(index)]
    # The server logs one JSON line per request: to a file, never to a pipe nobody reads
    # (a full pipe blocks the server mid-run).
    log = open(log_dir / f"serve-{port}.log", "wb")
    proc = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log.name  # type: ignore[attr-defined]
    log.close()  # the child holds its own descriptor
    _SERVERS.append(proc)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc in _SERVERS:
        _SERVERS.remove(proc)


def _stop_all() -> None:
    for proc in list(_SERVERS):
        try:
            stop_server(proc)
        except Exception:  # noqa: BLE001 - best effort at exit
            proc.kill()


def wait_ready(proc: subprocess.Popen, port: int, timeout: float = 120.0) -> float:
    """Seconds from now until /readyz answers 200 (polled every 10 ms)."""
    import httpx

    started = time.perf_counter()
    url = f"http://127.0.0.1:{port}/readyz"
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                err = Path(proc.log_path).read_text(errors="replace")[-800:]
                raise RuntimeError(f"kb serve exited with {proc.returncode}: {err}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"kb serve was not ready after {timeout:.0f} s")


# ---------------------------------------------------------------- sections


def bench_ingest(index: Path, runs: int) -> dict:
    cmd = kb_command() + ["ingest", "--index", str(index)]
    elapsed, done = timed_run(cmd, timeout=1800)
    from kb_service.store.index import read_manifest

    manifest = read_manifest(index) or {}
    chunks = int((manifest.get("chunk_counts") or {}).get("total", 0))
    # The CLI's own figure excludes process start and the one-off ONNX export.
    reported = re.search(r"([\d.]+) s, ([\d.]+) chunks/s", done.stdout)
    again = [timed_run(cmd, timeout=600)[0] for _ in range(runs)]
    from kb_service.config import load_settings

    # The full ingest above copied the query model's ONNX export from the per-user cache
    # (kb_service/models/export_cache.py) when it held one; time the export itself on an empty cache.
    with tempfile.TemporaryDirectory(prefix="kb-bench-cache-") as empty:
        export = [sys.executable, "-c", "import sys; from pathlib import Path; from kb_service.kb import "
                  "ensure_onnx_export; ensure_onnx_export(Path(sys.argv[1]), sys.argv[2], sys.argv[3])",
                  str(Path(empty) / "index"), str(manifest.get("model", "all-MiniLM-L6-v2")),
                  load_settings().onnx_quantize]
        export_s, _ = timed_run(export, timeout=600, env={**ENV, "KB_CACHE_DIR": str(Path(empty) / "cache")})
    return {
        "onnx_export_empty_cache_s": round(export_s, 2),
        "full_wall_s": round(elapsed, 2),
        "chunks": chunks,
        "chunks_per_s_wall": round(chunks / elapsed, 1) if elapsed else None,
        "pipeline_s": float(reported.group(1)) if reported else None,
        "reingest_unchanged_wall_s": [round(x, 2) for x in again],
        "reingest_unchanged_median_s": round(statistics.median(again), 2),
    }


def bench_cold(index: Path, question: str, runs: int, log_dir: Path) -> dict:
    ready = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        proc = start_server(index, port, log_dir)
        try:
            wait_ready(proc, port)
            ready.append(time.perf_counter() - started)
        finally:
            stop_server(proc)
    asks = [timed_run(kb_command() + ["ask", "--index", str(index), question], timeout=300)[0] for _ in range(runs)]
    return {
        "serve_ready_s": [round(x, 2) for x in ready],
        "serve_ready_median_s": round(statistics.median(ready), 2),
        "ask_embedded_s": [round(x, 2) for x in asks],
        "ask_embedded_median_s": round(statistics.median(asks), 2),
    }


def bench_remote_ask(url: str, question: str, runs: int) -> dict:
    walls = [timed_run(kb_command() + ["ask", "--url", url, question], timeout=60)[0] for _ in range(runs)]
    # The same command in a child that reports which heavy modules it imported.
    probe = (
        "import sys\nfrom kb_service.cli import app\n"
        f"sys.argv = ['kb', 'ask', '--url', {url!r}, {question!r}]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'onnxruntime', 'faiss', 'numpy') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    _, done = timed_run([sys.executable, "-c", probe], timeout=60)
    heavy = done.stdout.rsplit("HEAVY=", 1)[-1].strip()
    return {
        "wall_s": [round(x, 3) for x in walls],
        "median_s": round(statistics.median(walls), 3),
        "heavy_modules_imported": [m for m in heavy.split(",") if m],
        "imports_torch": "torch" in heavy.split(","),
    }


def bench_in_process(index: Path, questions: list[str], max_seconds: float) -> dict:
    from kb_service.config import load_settings
    from kb_service.kb import KnowledgeBase

    settings = load_settings(index=index)
    kb = KnowledgeBase(index, query_backend=settings.query_backend, onnx_quantize=settings.onnx_quantize,
                       threads=settings.threads, profile=settings.profile).load()
    kb.warm_up()
    third = len(questions) // 3
    result = {"questions_per_measure": third}
    # One query embedding alone on fresh questions, search with other fresh ones, ask with
    # others still, then search and ask again (cached question embeddings and language
    # scores; retrieval and answer composition still run). The embedding alone is what the
    # ask figure is compared with: the answer pipeline should cost little beside it.
    plan = [("embed_cold", kb.embed_query, questions[2 * third:]), ("search_cold", kb.search, questions[:third]),
            ("ask_cold", kb.ask, questions[third:2 * third]),
            ("search_cached", kb.search, questions[:third]), ("ask_cached", kb.ask, questions[third:2 * third])]
    for name, fn, batch in plan:
        times = []
        deadline = time.perf_counter() + max_seconds
        for question in batch:
            started = time.perf_counter()
            fn(question)
            times.append((time.perf_counter() - started) * 1000)
            if time.perf_counter() > deadline:
                break
        result[name] = percentiles(times)
    import sys as _sys

    result["imports_torch"] = "torch" in _sys.modules
    return result


async def _httpx_cell(url: str, route: str, questions, concurrency: int, duration: float, max_requests: int) -> dict:
    import httpx

    field = "query" if route == "/v1/search" else "question"
    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            nonlocal issued
            while time.perf_counter() < deadline and issued < max_requests:
                issued += 1
                question = next(questions)
                started = time.perf_counter()
                try:
                    response = await client.post(route, json={field: question})
                    if response.status_code == 200:
                        latencies.append((time.perf_counter() - started) * 1000)
                    else:
                        errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"latencies": latencies, "errors": errors, "elapsed": time.perf_counter() - began}


def _load_cell(url: str, route: str, questions, concurrency: int, duration: float, max_requests: int,
               client: str = "raw", server_pid: int | None = None) -> dict:
    """One load cell: wall-clock latencies, throughput, errors, and the CPU both sides spent."""
    import loadgen

    run = loadgen.run_cell if client == "raw" else _httpx_cell
    own_before = os.times()
    server_before = _cpu_seconds(server_pid)
    cell = asyncio.run(run(url, route, questions, concurrency, duration, max_requests))
    own_after = os.times()
    server_after = _cpu_seconds(server_pid)
    latencies, errors, elapsed = cell["latencies"], cell["errors"], cell["elapsed"]
    ok = len(latencies)
    client_cpu = (own_after.user + own_after.system) - (own_before.user + own_before.system)
    return {
        "concurrency": concurrency,
        "client": client,
        "seconds": round(elapsed, 2),
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "req_per_s": round(ok / elapsed, 1) if elapsed else None,
        "client_cpu_ms_per_request": round(client_cpu * 1000 / ok, 2) if ok else None,
        "server_cpu_ms_per_request": (round((server_after - server_before) * 1000 / ok, 2)
                                      if ok and server_pid is not None else None),
        **percentiles(latencies),
    }


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    if pid is None:
        return 0.0
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for each in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages split between the processes that map them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (uvicorn's workers and whatever they started)."""
    try:
        direct = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [grand for child in direct for grand in (child, *_children(child))]


def bench_http(url: str, questions: list[str], levels: list[int], duration: float, max_requests: int,
               client: str = "raw", server_pid: int | None = None) -> dict:
    pool = iter(questions)
    used = {"n": 0}

    def next_question():
        used["n"] += 1
        return next(pool, None) or questions[used["n"] % len(questions)]

    class _Questions:
        def __next__(self):
            return next_question()

    cells = {}
    for route in ("/v1/ask", "/v1/search"):
        for level in levels:
            cells[f"{route} c={level}"] = _load_cell(url, route, _Questions(), level, duration, max_requests,
                                                     client=client, server_pid=server_pid)
    return {"cells": cells, "distinct_questions": len(questions), "requests_sent": used["n"],
            "repeated_questions": max(0, used["n"] - len(questions))}


def bench_scale_out(index: Path, counts: list[int], concurrency: int, duration: float, max_requests: int,
                    questions: list[str], work: Path) -> dict:
    """/v1/ask throughput with 1, 2, 3 … replicas (`kb serve --workers 1` each) behind HAProxy.

    The replicas are started once; each cell puts an HAProxy built from deploy/haproxy.cfg
    in front of the first n of them. The load generator, HAProxy and every replica share
    this machine's cores, so past the core count a replica only adds contention.
    """
    import loadgen
    from local_cluster import Cluster, haproxy, wait_servers_up

    if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").is_file()):
        return {"skipped": "haproxy is not installed: scripts/system-deps.sh haproxy"}

    env = {**ENV, "KB_INDEX": str(index)}
    env = {k: v for k, v in env.items() if k not in ("KB_RATE_LIMIT_PER_MINUTE", "KB_REDIS_URL")}
    # Fresh replicas, so the questions the other sections sent are new to them; one pool for
    # all cells, so no cell repeats another's (cycled only if it runs out: counted below).
    pool = itertools.cycle(questions)
    sent = 0
    cells = {}
    with Cluster(work, env, replicas=max(counts)) as cluster:
        names = list(cluster.replicas)
        for n in counts:
            servers = {name: cluster.replicas[name].port for name in names[:n]}
            lb, port, stats_port = haproxy(work, f"haproxy-{n}", servers)
            lb.start()
            try:
                wait_servers_up(stats_port, list(servers), 60)
                pids = [cluster.replicas[name].proc.pid for name in servers]
                before = sum(_cpu_seconds(pid) for pid in pids), _cpu_seconds(lb.proc.pid)
                cell = asyncio.run(loadgen.run_cell(f"http://127.0.0.1:{port}", "/v1/ask", pool, concurrency,
                                                    duration, max_requests))
                after = sum(_cpu_seconds(pid) for pid in pids), _cpu_seconds(lb.proc.pid)
            finally:
                lb.stop(signal.SIGTERM)
            ok = len(cell["latencies"])
            sent += ok + sum(cell["errors"].values())
            cells[str(n)] = {
                "replicas": n, "concurrency": concurrency, "seconds": round(cell["elapsed"], 2), "ok": ok,
                "errors": sum(cell["errors"].values()), "error_kinds": cell["errors"],
                "req_per_s": round(ok / cell["elapsed"], 1) if cell["elapsed"] else None,
                "replica_cpu_ms_per_request": round((after[0] - before[0]) * 1000 / ok, 2) if ok else None,
                "haproxy_cpu_ms_per_request": round((after[1] - before[1]) * 1000 / ok, 2) if ok else None,
                **percentiles(cell["latencies"]),
            }
    return {"cells": cells, "route": "/v1/ask", "duration_s": duration, "workers_per_replica": 1,
            "cores": os.cpu_count(), "distinct_questions": len(questions),
            "repeated_questions": max(0, sent - len(questions))}


def scale_out_markdown(result: dict, machine_info: dict) -> str:
    if "skipped" in result:
        return f"Scale-out: skipped ({result['skipped']}).\n"
    lines = [f"Scale-out: /v1/ask through HAProxy (deploy/haproxy.cfg), replicas of `kb serve --workers 1`, "
             f"concurrency {next(iter(result['cells'].values()))['concurrency']}, {result['duration_s']:g} s per "
             f"cell, distinct questions; {result['cores']} cores shared by the load generator, HAProxy and the "
             f"replicas (load average at start {machine_info.get('load_avg_at_start')}):", "",
             "| replicas | req/s | p50 ms | p95 ms | p99 ms | ok | errors | replica CPU ms/req | HAProxy CPU ms/req |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cell in result["cells"].values():
        lines.append(f"| {cell['replicas']} | {cell['req_per_s']} | {cell.get('p50')} | {cell.get('p95')} | "
                     f"{cell.get('p99')} | {cell['ok']} | {cell['errors']} | {cell['replica_cpu_ms_per_request']} | "
                     f"{cell['haproxy_cpu_ms_per_request']} |")
    lines += ["", f"{result['distinct_questions']} distinct questions ({result['repeated_questions']} repeated)."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- report


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"# kb benchmark ({m['date']})",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}, "
        f"load average at start {m['load_avg_at_start']}. Index: {results['index']['chunks']} chunks.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    row = lines.append
    ing = results.get("ingest")
    if ing:
        row(f"| full ingest (wall, fresh temp index) | {ing['full_wall_s']} s ({ing['chunks_per_s_wall']} chunks/s) |")
        row(f"| one-time ONNX export of the query model (empty cache; a fresh index copies it from the cache) | {ing['onnx_export_empty_cache_s']} s |")
        row(f"| re-ingest, nothing changed (median of {len(ing['reingest_unchanged_wall_s'])}) | {ing['reingest_unchanged_median_s']} s |")
    cold = results["cold"]
    row(f"| `kb serve` start → /readyz 200 (median of {len(cold['serve_ready_s'])}) | {cold['serve_ready_median_s']} s |")
    row(f"| `kb ask` embedded, cold process (median of {len(cold['ask_embedded_s'])}) | {cold['ask_embedded_median_s']} s |")
    remote = results["remote_ask"]
    row(f"| `kb ask --url` wall (median of {len(remote['wall_s'])}) | {remote['median_s']} s; imports torch: "
        f"{'yes' if remote['imports_torch'] else 'no'} |")
    warm = results["in_process"]
    for name in ("embed_cold", "search_cold", "ask_cold", "search_cached", "ask_cached"):
        if name not in warm:
            continue
        p = warm[name]
        row(f"| in-process {name.replace('_', ' ')} p50 / p95 / p99 (n={p['n']}) | {p['p50']} / {p['p95']} / {p['p99']} ms |")
    if "embed_cold" in warm:
        row(f"| ask p50 on new questions / one query embedding p50, same run | "
            f"{warm['ask_cold']['p50'] / max(warm['embed_cold']['p50'], 1e-9):.2f}x |")
    srv = results["server"]
    row(f"| server peak RSS (VmHWM after load, summed over {srv.get('processes', 1)} processes: uvicorn and its "
        f"workers) | {srv['peak_rss_mb']} MB (PSS {srv.get('pss_mb_after_load')} MB); torch loaded: "
        f"{'yes' if srv['torch_loaded'] else 'no'} |")
    settings = results["http_settings"]
    client = {"raw": "raw keep-alive sockets, scripts/loadgen.py", "httpx": "httpx async client, keep-alive"}
    lines += ["", f"HTTP, {settings.get('workers', 1)} uvicorn worker(s), distinct questions, "
              f"{settings['duration_s']} s per cell ({client[settings.get('client', 'httpx')]}); CPU columns are "
              "milliseconds of CPU per answered request, from /proc (server) and os.times (load generator):", "",
              "| route | concurrency | req/s | p50 ms | p95 ms | p99 ms | ok | errors | server CPU | client CPU |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, cell in results["http"]["cells"].items():
        route = name.split(" ")[0]
        row(f"| {route} | {cell['concurrency']} | {cell['req_per_s']} | {cell.get('p50')} | {cell.get('p95')} | "
            f"{cell.get('p99')} | {cell['ok']} | {cell['errors']} | {cell.get('server_cpu_ms_per_request')} | "
            f"{cell.get('client_cpu_ms_per_request')} |")
    http = results["http"]
    lines += ["", f"{http['requests_sent']} HTTP requests over {http['distinct_questions']} distinct questions "
              f"({http['repeated_questions']} repeated)."]
    if results.get("scale_out"):
        lines += ["", scale_out_markdown(results["scale_out"], m).rstrip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="Index to serve with --skip-ingest (default: the configured one).")
    parser.add_argument("--skip-ingest", action="store_true", help="Do not time a full ingest into a temp index.")
    parser.add_argument("--out", type=Path, default=REPO / "bench", help="Folder for results.json and results.md.")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per HTTP cell.")
    parser.add_argument("--concurrency", default="1,4,16", help="Comma-separated HTTP concurrency levels.")
    parser.add_argument("--questions", type=int, default=400,
                        help="Distinct questions per in-process measure (search, ask; at least 300).")
    parser.add_argument("--max-requests", type=int, default=20_000, help="Cap on requests per HTTP cell.")
    parser.add_argument("--runs", type=int, default=3, help="Runs of each cold-start measurement.")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="HTTP load generator: raw keep-alive sockets (scripts/loadgen.py, ~0.1 ms CPU a "
                             "request) or httpx (~1.2 ms, taken from the same two cores as the server).")
    parser.add_argument("--scale-out", default="1,2,3",
                        help="Replica counts for the scale-out cell behind HAProxy (empty: skip it).")
    parser.add_argument("--scale-out-only", action="store_true",
                        help="Run only the scale-out cell (on --index or the configured index); writes "
                             "scale-out.json and scale-out.md.")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]

    atexit.register(_stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run atexit (stop servers) on kill

    results: dict = {"machine": machine(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    replica_counts = [int(x) for x in args.scale_out.split(",") if x.strip()]
    if args.scale_out_only:
        try:
            from kb_service.config import load_settings

            index = (args.index or load_settings().index).resolve()
            results["index"] = {"path": str(index)}
            print(f"scale-out: {replica_counts} replicas behind HAProxy …", file=sys.stderr)
            results["scale_out"] = bench_scale_out(index, replica_counts, max(levels), args.duration,
                                                   args.max_requests, distinct_questions(30_000), tmp / "scale-out")
        finally:
            _stop_all()
            shutil.rmtree(tmp, ignore_errors=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale-out.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
        table = scale_out_markdown(results["scale_out"], results["machine"])
        (args.out / "scale-out.md").write_text(table, encoding="utf-8")
        print(table)
        return
    try:
        if args.skip_ingest:
            from kb_service.config import load_settings

            index = (args.index or load_settings().index).resolve()
        else:
            index = tmp / "index"
            print(f"ingest into {index} …", file=sys.stderr)
            results["ingest"] = bench_ingest(index, runs=args.runs)
        from kb_service.store.index import read_manifest

        manifest = read_manifest(index)
        if manifest is None:
            sys.exit(f"no index at {index}: run `kb ingest` first (or drop --skip-ingest)")
        results["index"] = {"path": str(index), "chunks": (manifest.get("chunk_counts") or {}).get("total"),
                            "build": manifest.get("build"), "dense": manifest.get("dense")}
        # Enough distinct questions that no HTTP request repeats one at the expected rates.
        per_measure = max(args.questions, 300)
        questions = distinct_questions(3 * per_measure + 30_000)
        local, remote_pool = questions[: 3 * per_measure], questions[3 * per_measure :]
        probe_question = "which approach for cart abandonment?"

        print("cold start …", file=sys.stderr)
        results["cold"] = bench_cold(index, probe_question, runs=args.runs, log_dir=tmp)
        print("in-process search and ask …", file=sys.stderr)
        results["in_process"] = bench_in_process(index, local, max_seconds=60.0)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(index, port, tmp)
        try:
            wait_ready(server, port)
            print("kb ask --url …", file=sys.stderr)
            results["remote_ask"] = bench_remote_ask(url, probe_question, runs=5)
            print(f"HTTP load ({args.duration:g} s per cell) …", file=sys.stderr)
            from kb_service.config import load_settings

            results["http_settings"] = {"duration_s": args.duration, "levels": levels,
                                        "workers": load_settings().workers, "client": args.client}
            results["http"] = bench_http(url, remote_pool, levels, args.duration, args.max_requests,
                                         client=args.client, server_pid=server.pid)
            # The server is the uvicorn supervisor and its worker processes: add up their peaks
            # (an upper bound: the libraries' pages they share are counted once per process).
            tree = [server.pid, *_children(server.pid)]
            peaks = {pid: proc_status(pid, "VmHWM") or 0 for pid in tree}
            shared = {pid: _pss_kb(pid) for pid in tree}
            results["server"] = {"pid": server.pid, "processes": len(tree),
                                 "peak_rss_mb": round(sum(peaks.values()) / 1024, 1),
                                 "peak_rss_mb_by_process": {str(p): round(v / 1024, 1) for p, v in peaks.items()},
                                 "pss_mb_after_load": round(sum(shared.values()) / 1024, 1),
                                 "torch_loaded": any(loads_torch(pid) for pid in tree)}
        finally:
            stop_server(server)
        if replica_counts:
            print(f"scale-out: {replica_counts} replicas behind HAProxy …", file=sys.stderr)
            results["scale_out"] = bench_scale_out(index, replica_counts, max(levels), args.duration,
                                                   args.max_requests, remote_pool, tmp / "scale-out")
    finally:
        _stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    table = markdown(results)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
