"""Scaling study for kb's dense index: exact flat vs HNSW on clustered 384-d vectors.

Measures, per corpus size: single-query search latency (p50/p95, 1 and 2 OpenMP threads),
index bytes on disk, RSS growth while building, HNSW build time, and recall@10 of HNSW
against exact search for several efSearch values. Results are merged (by size) into
bench/scaling.json; docs/scaling.md discusses them and the constants chosen in kb_service/store/dense.py.

    python scripts/bench_scaling.py --sizes 10000,100000          # measure
    python scripts/bench_scaling.py --sizes 1000000 --build-budget 600

Data: REAL-like structure rather than uniform noise. ``--centres`` random unit centres;
each vector is a centre plus isotropic gaussian noise of norm ~``--noise``, renormalised
(noise 0.75 gives cosine ~0.8 to its centre and ~0.64 between neighbours of one cluster,
the range all-MiniLM-L6-v2 gives between passages of one topic). Queries are fresh draws
from the same mixture, not indexed vectors. Isotropic in-cluster noise is a hard case for
HNSW (real embeddings have lower intrinsic dimension), so recall here is pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kb_service.store import dense as dense_module  # noqa: E402
from kb_service.store.dense import DenseIndex  # noqa: E402

JSON_PATH = REPO / "bench" / "scaling.json"
K = 10
RECALL_TARGET = 0.95


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def clustered(n: int, dim: int, centres: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors: random centre + gaussian noise of norm ~noise, renormalised (in blocks)."""
    out = np.empty((n, dim), dtype=np.float32)
    block = 50_000
    for start in range(0, n, block):
        m = min(block, n - start)
        x = centres[rng.integers(0, len(centres), size=m)]
        x = x + rng.normal(scale=noise / np.sqrt(dim), size=(m, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p95_ms": round(float(np.percentile(ms, 95)), 4)}


def time_queries(index: DenseIndex, queries: np.ndarray, threads: int, repeats: int = 1) -> dict[str, float]:
    """Single-query latency through DenseIndex.search (what kb calls), after a warm-up."""
    faiss.omp_set_num_threads(threads)
    for q in queries[:10]:
        index.search(q, K)
    samples = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            index.search(q, K)
            samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def file_bytes(index: DenseIndex) -> int:
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as tmp:
        path = Path(tmp) / "dense.faiss"
        index.save(path)
        return path.stat().st_size


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits)) / truth.shape[1]


def bench_size(n: int, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    centres = rng.normal(size=(args.centres, args.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    t0 = time.perf_counter()
    data = clustered(n, args.dim, centres, args.noise, rng)
    queries = clustered(args.queries, args.dim, centres, args.noise, rng)
    result: dict = {"n": n, "dim": args.dim, "queries": args.queries, "generate_s": round(time.perf_counter() - t0, 1)}
    # The machine is shared: record how busy it was, since 2-thread timings suffer most.
    result["loadavg_at_start"] = round(os.getloadavg()[0], 2)
    print(f"[{n}] generated in {result['generate_s']} s", flush=True)

    # ---- exact flat: ground truth + latency
    faiss.omp_set_num_threads(2)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    flat = DenseIndex.build(data, kind="flat")
    flat_build = time.perf_counter() - t0
    flat_rss = rss_bytes() - rss0
    default_blas = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 20  # batched ground truth via BLAS
    truth_scores, truth = flat._index.search(queries, K)
    faiss.cvar.distance_compute_blas_threshold = default_blas  # single queries: faiss' default path
    result["data_stats"] = {
        "mean_top1_cosine": round(float(truth_scores[:, 0].mean()), 3),
        "mean_top10_cosine": round(float(truth_scores[:, -1].mean()), 3),
    }
    result["flat"] = {
        "build_s": round(flat_build, 2),
        "index_bytes": file_bytes(flat),
        "rss_delta_bytes": flat_rss,
        "latency": {f"{t}_thread": time_queries(flat, queries, t) for t in (1, 2)},
    }
    print(f"[{n}] flat {result['flat']}", flush=True)
    del flat

    # ---- HNSW: bounded build, then recall/latency per efSearch
    faiss.omp_set_num_threads(2)
    rss0 = rss_bytes()
    index = faiss.IndexHNSWFlat(args.dim, dense_module.HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = dense_module.HNSW_EF_CONSTRUCTION
    t0 = time.perf_counter()
    added = 0
    step = 20_000
    while added < n:
        index.add(data[added : added + step])
        added = min(n, added + step)
        elapsed = time.perf_counter() - t0
        if elapsed > args.build_budget and added < n:
            break
    build_s = time.perf_counter() - t0
    hnsw_info: dict = {
        "M": dense_module.HNSW_M,
        "efConstruction": dense_module.HNSW_EF_CONSTRUCTION,
        "build_threads": 2,
        "built_rows": added,
        "build_s": round(build_s, 1),
        "rss_delta_bytes": rss_bytes() - rss0,
    }
    if added < n:
        # Honest extrapolation: HNSW insertion cost grows slowly (~log n), so a linear
        # projection from the measured rate is a lower bound on the full build time.
        hnsw_info["complete"] = False
        hnsw_info["estimated_full_build_s_lower_bound"] = round(build_s * n / added, 0)
        print(f"[{n}] HNSW build stopped at {added} rows after {build_s:.0f} s", flush=True)
        result["hnsw"] = hnsw_info
        return result
    hnsw_info["complete"] = True
    hnsw = DenseIndex(index, "hnsw")
    hnsw_info["index_bytes"] = file_bytes(hnsw)
    print(f"[{n}] HNSW built in {build_s:.1f} s", flush=True)
    sweeps = []
    for ef in args.ef:
        index.hnsw.efSearch = ef
        faiss.omp_set_num_threads(1)
        found = np.stack([np.pad(hnsw.search(q, K)[1], (0, K), constant_values=-1)[:K] for q in queries])
        row = {"efSearch": ef, "recall_at_10": round(recall_at_k(found, truth), 4)}
        row["latency"] = {f"{t}_thread": time_queries(hnsw, queries, t, repeats=3) for t in (1, 2)}
        sweeps.append(row)
        print(f"[{n}] HNSW {row}", flush=True)
    hnsw_info["sweep"] = sweeps

    # ---- rows-restricted search: exact subset path vs faiss IDSelector walk
    index.hnsw.efSearch = dense_module.HNSW_EF_SEARCH
    faiss.omp_set_num_threads(1)
    restricted = []
    for m in [s for s in (1_000, 2_000, 5_000, 10_000, 20_000, 50_000) if s < n]:
        rows = np.sort(rng.choice(n, size=m, replace=False))
        for path in ("exact", "selector"):
            limit = n if path == "exact" else 0
            saved = dense_module.SUBSET_EXACT_MAX
            dense_module.SUBSET_EXACT_MAX = limit
            try:
                samples, found = [], []
                for q in queries[:50]:
                    t0 = time.perf_counter()
                    got = hnsw.search(q, K, rows=rows)[1]
                    samples.append(time.perf_counter() - t0)
                    found.append(np.pad(got, (0, K), constant_values=-1)[:K])
            finally:
                dense_module.SUBSET_EXACT_MAX = saved
            exact_rows = []
            for q in queries[:50]:
                s = data[rows] @ q
                exact_rows.append(rows[np.argsort(-s)[:K]])
            restricted.append(
                {"rows": m, "path": path, "recall_at_10": round(recall_at_k(np.stack(found), np.stack(exact_rows)), 4),
                 **percentiles(samples)}
            )
            print(f"[{n}] restricted {restricted[-1]}", flush=True)
    hnsw_info["restricted"] = restricted
    result["hnsw"] = hnsw_info
    result["loadavg_at_end"] = round(os.getloadavg()[0], 2)
    return result


def merge_json(results: list[dict], args: argparse.Namespace) -> dict:
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {"runs": {}}
    for r in results:
        r["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        doc["runs"][str(r["n"])] = r
    doc["setup"] = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "faiss": faiss.__version__,
        "numpy": np.__version__,
        "data": {"centres": args.centres, "noise_norm": args.noise, "seed": args.seed, "dim": args.dim},
        "k": K,
    }
    JSON_PATH.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--centres", type=int, default=300)
    parser.add_argument("--noise", type=float, default=0.75)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ef", default="16,32,64,128,256,512")
    parser.add_argument("--build-budget", type=float, default=600.0, help="seconds before an HNSW build is cut short")
    args = parser.parse_args()
    args.ef = [int(x) for x in args.ef.split(",")]
    (REPO / "bench").mkdir(exist_ok=True)
    results = [bench_size(int(s), args) for s in args.sizes.split(",") if s]
    merge_json(results, args)
    print(f"wrote {JSON_PATH}")


if __name__ == "__main__":
    main()
