"""Rerun the outside probe of issue 13 against a real `kb serve --workers 2` on 127.0.0.1.

    .venv/bin/python scripts/probe.py --index /path/to/built/index [--out bench/probe.json]

The index (a built one, with its ONNX export) is copied to a temporary folder first: the
probe damages its copy. Each probe prints one line; the JSON holds the figures. Needs root
for the disk-full probe (it mounts a small tmpfs); that probe is skipped otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx

from ports import free_port

REPO = Path(__file__).resolve().parents[1]
ADMIN = "probe-admin-key"
KEY = "probe-api-key"
ASK = {"question": "which approach for cart abandonment?"}


@contextmanager
def serve(index: Path, home: Path, **env_overrides: str):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_") and k != "ORT_DISABLE_TELEMETRY"}
    env.update({"HF_HUB_OFFLINE": "1", "KB_INDEX": str(index), "KB_ADMIN_KEY": ADMIN, "KB_WORKERS": "2",
                "HOME": str(home), "KB_CACHE_DIR": str(Path.home() / ".cache" / "kb")})
    env.update(env_overrides)
    log = tempfile.NamedTemporaryFile(prefix="kb-probe-", suffix=".log", delete=False)
    process = subprocess.Popen([sys.executable, "-m", "kb_service.cli", "serve", "--port", str(port)], cwd=REPO,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        ready_in_a_row = 0
        for _ in range(1200):  # bounded wait for readiness of both workers: 20 new connections in a row
            try:
                ready_in_a_row = ready_in_a_row + 1 if httpx.get(url + "/readyz", timeout=2).status_code == 200 else 0
            except httpx.TransportError:
                ready_in_a_row = 0
            if ready_in_a_row >= 20:
                break
            time.sleep(0.1)
        else:
            raise SystemExit(f"server not ready; log in {log.name}")
        yield url, Path(log.name)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def wait_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float | None]:
    started = time.monotonic()
    sock.settimeout(0.2)
    data = b""
    while time.monotonic() - started < limit_s:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return data, time.monotonic() - started
        if not chunk:
            return data, time.monotonic() - started
        data += chunk
    return data, None


def statuses(responses) -> dict[str, int]:
    return dict(sorted(Counter(str(r) for r in responses).items()))


def probe_slow_bodies(url: str, connections: int = 200) -> dict:
    socks = []
    for _ in range(connections):
        sock = connect(url)
        sock.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        socks.append(sock)
    stop = threading.Event()

    def trickle() -> None:  # one byte every 2 s on every connection, as the probe did
        while not stop.wait(2.0):
            for sock in socks:
                try:
                    sock.sendall(b" ")
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    legit = []
    for _ in range(20):
        try:
            legit.append(httpx.post(url + "/v1/ask", json=ASK, timeout=30).status_code)
        except httpx.HTTPError as exc:
            legit.append(type(exc).__name__)
    ends = [wait_closed(sock, 30) for sock in socks]
    stop.set()
    for sock in socks:
        sock.close()
    closed_after = sorted(t for _, t in ends if t is not None)
    return {"slow_connections": connections, "valid_client_statuses": statuses(legit),
            "slow_connection_answers": statuses(d.split(b" ", 2)[1].decode() if d else "none" for d, _ in ends),
            "slow_closed": len(closed_after),
            "slow_closed_after_s_max": round(closed_after[-1], 1) if closed_after else None}


def probe_idle(url: str) -> dict:
    out = {}
    for name, sent in (("idle", b""), ("half_request_line", b"POST /v1/as"),
                       ("half_headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")):
        sock = connect(url)
        sock.sendall(sent)
        _data, after = wait_closed(sock, 30)
        out[f"{name}_closed_after_s"] = round(after, 1) if after is not None else None
        sock.close()
    return out


def probe_abandoned(url: str, n: int = 20) -> dict:
    for _ in range(n):
        sock = connect(url)
        sock.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"question\": \"cart")
        sock.close()
    deadline = time.monotonic() + 10
    found = {}
    while time.monotonic() < deadline:
        metrics = httpx.get(url + "/metrics").text
        found = {status: _count(metrics, "/v1/ask", status) for status in ("499", "500")}
        if found["499"] + found["500"] >= n:
            break
        time.sleep(0.1)
    return {"half_bodies_then_disconnect": n, "counted": found}


def _count(metrics: str, route: str, status: str) -> int:
    for line in metrics.splitlines():
        if line.startswith("kb_requests_total{") and f'route="{route}"' in line and f'status="{status}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def probe_input(url: str) -> dict:
    k = {repr(v): httpx.post(url + "/v1/ask", json={**ASK, "k": v}).status_code for v in ("5", " 5 ", 5.0, True)}
    sock = connect(url)
    sock.sendall(b"NOT HTTP\r\n\r\n")
    data, _ = wait_closed(sock, 10)
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    preflight = httpx.options(url + "/v1/ask", headers={"Origin": "https://evil.example",
                                                        "Access-Control-Request-Method": "POST"})
    return {"k_statuses": k, "unparsable_request": f"{head.split(b' ')[1].decode()} {_content_type(head)} {body[:80].decode()}",
            "refused_preflight": f"{preflight.status_code} {preflight.headers.get('content-type')} {preflight.text[:80]}"}


def _content_type(head: bytes) -> str:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-type:"):
            return line.split(b":", 1)[1].strip().decode()
    return "?"


def probe_concurrent_reloads(url: str, rounds: int = 3) -> dict:
    results = []
    for _ in range(rounds):
        out: list = [None, None]

        def reload(i: int) -> None:
            started = time.monotonic()
            response = httpx.post(url + "/v1/admin/reload", headers={"X-Admin-Key": ADMIN}, timeout=120)
            out[i] = (response.status_code, round(time.monotonic() - started, 1),
                      response.json().get("workers") or response.json().get("error", {}).get("code"))

        threads = [threading.Thread(target=reload, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.append(out)
    return {"two_reloads_at_once": results}


def probe_truncated_vectors(url: str, index: Path, log: Path) -> dict:
    vectors = next((index / "builds").glob("*/vectors.npy"))
    saved = vectors.read_bytes()
    os.truncate(vectors, 0)
    try:
        asks = [httpx.post(url + "/v1/ask", json={"question": f"which approach for cart abandonment? {i}"},
                           timeout=30).status_code for i in range(20)]
        reload = httpx.post(url + "/v1/admin/reload", headers={"X-Admin-Key": ADMIN}, timeout=120)
        after = [httpx.post(url + "/v1/ask", json=ASK, timeout=30).status_code for _ in range(5)]
    finally:
        vectors.write_bytes(saved)
    restarts = log.read_text(errors="replace").count("starting another")
    return {"asks_after_truncate": statuses(asks), "worker_restarts": restarts,
            "reload": f"{reload.status_code} {reload.json()['error']['message'][:160]}", "asks_after_reload": statuses(after)}


def probe_public_paths(index: Path, home: Path) -> dict:
    dense = next((index / "builds").glob("*/dense.faiss"))
    saved = dense.read_bytes()
    dense.write_bytes(saved[: len(saved) // 2])
    try:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
        env.update({"HF_HUB_OFFLINE": "1", "KB_INDEX": str(index), "HOME": str(home)})
        process = subprocess.Popen([sys.executable, "-m", "kb_service.cli", "serve", "--workers", "1", "--port",
                                    str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    readyz = httpx.get(url + "/readyz", timeout=2)
                    if readyz.json().get("status") == "unavailable":
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            ask = httpx.post(url + "/v1/ask", json=ASK)
        finally:
            process.send_signal(signal.SIGINT)
            _out, err = process.communicate(timeout=30)
    finally:
        dense.write_bytes(saved)
    public = readyz.text + ask.text
    return {"damaged_dense_readyz": readyz.text[:200], "public_bodies_name_a_path": str(index) in public or "dense.faiss" in public,
            "server_log_names_the_file": "dense.faiss" in err}


def probe_rate_limits(index: Path, home: Path) -> dict:
    with serve(index, home, KB_RATE_LIMIT_PER_MINUTE="10") as (url, _log):
        plain = [httpx.post(url + "/v1/ask", json=ASK).status_code for _ in range(30)]  # a new connection each
    with serve(index, home, KB_RATE_LIMIT_PER_MINUTE="10") as (url, _log):
        spoofed = [httpx.post(url + "/v1/ask", json=ASK, headers={"X-Forwarded-For": f"10.1.{i // 250}.{i % 250}"}
                              ).status_code for i in range(30)]
    with serve(index, home, KB_API_KEYS=KEY) as (url, _log):
        wrong = [httpx.post(url + "/v1/ask", json=ASK, headers={"X-API-Key": f"guess-{i}"}).status_code
                 for i in range(50)]
    return {"two_workers_limit_10_30_requests": statuses(plain), "with_a_new_x_forwarded_for_each": statuses(spoofed),
            "50_wrong_keys": statuses(wrong)}


def probe_disk_full(index: Path, home: Path) -> dict:
    if os.geteuid() != 0:
        return {"skipped": "needs root to mount a tmpfs"}
    mount = Path(tempfile.mkdtemp(prefix="kb-probe-tmpfs-"))
    builds_mb = sum(p.stat().st_size for p in (index / "builds").rglob("*") if p.is_file()) / 2**20
    size_mb = int(builds_mb * 2 + 4)  # room for the old build and a new one, not for the query model
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)], check=True)
    try:
        small = mount / "index"
        small.mkdir()
        shutil.copytree(index / "builds", small / "builds")
        shutil.copy(index / "CURRENT", small / "CURRENT")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
        env.update({"HF_HUB_OFFLINE": "1", "HOME": str(home), "KB_CACHE_DIR": str(Path.home() / ".cache" / "kb")})
        run = subprocess.run([sys.executable, "-m", "kb_service.cli", "ingest", "--index", str(small), "--force"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("embedding")]
        return {"tmpfs_mb": size_mb, "exit_code": run.returncode, "stderr_lines": len(lines),
                "error": lines[-1][:300] if lines else "", "left_in_index": sorted(p.name for p in small.iterdir())}
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "probe.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kb-probe-"))
    home = work / "home"
    home.mkdir()
    index = Path(shutil.copytree(args.index, work / "index", ignore=shutil.ignore_patterns(".ingest.lock", ".tmp-*")))
    figures: dict = {"started": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "load_average": os.getloadavg()[0]}
    try:
        with serve(index, home, KB_CORS_ORIGINS="https://docs.example.com") as (url, log):
            for name, probe in (("slow_bodies", lambda: probe_slow_bodies(url)), ("idle", lambda: probe_idle(url)),
                                ("abandoned", lambda: probe_abandoned(url)), ("input", lambda: probe_input(url)),
                                ("reloads", lambda: probe_concurrent_reloads(url)),
                                ("truncated_vectors", lambda: probe_truncated_vectors(url, index, log))):
                figures[name] = probe()
                print(name, json.dumps(figures[name]), flush=True)
        figures["telemetry_files"] = sorted(str(p.relative_to(home)) for p in home.rglob("*") if "Microsoft" in str(p))
        print("telemetry_files", figures["telemetry_files"], flush=True)
        for name, probe in (("public_paths", lambda: probe_public_paths(index, home)),
                            ("rate_limits", lambda: probe_rate_limits(index, home)),
                            ("disk_full", lambda: probe_disk_full(index, home))):
            figures[name] = probe()
            print(name, json.dumps(figures[name]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
