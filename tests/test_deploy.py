"""deploy/ and the Dockerfile, which cannot run here (no container engine): checked as far as
this machine allows. HAProxy's own parser checks haproxy.cfg (the slow scale-out test runs
it for real); the compose file and Kubernetes manifests are parsed and their essentials
checked against the code's settings; the serving image's premise, answering without torch,
is run for real with the build-only packages made unimportable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from kb_service.config import Settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
pytest_plugins = ["tests.api_fixtures"]


def _haproxy() -> str:
    done = subprocess.run(["bash", str(REPO / "scripts/system-deps.sh"), "haproxy"], capture_output=True, text=True,
                          timeout=900)
    found = shutil.which("haproxy") or (Path("/usr/sbin/haproxy").is_file() and "/usr/sbin/haproxy")
    if done.returncode != 0 or not found:
        pytest.skip(f"haproxy cannot be installed here: {done.stderr.strip()[-300:]}")
    return str(found)


def test_haproxy_config_is_valid_for_haproxy_itself():
    done = subprocess.run([_haproxy(), "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (DEPLOY / "haproxy.cfg").read_text()
    for needed in ("http-check send meth GET uri /readyz", "option redispatch", "retry-on conn-failure empty-response 503",
                   "http-request disable-l7-retry unless read_only", "option forwardfor",
                   "option http-buffer-request"):
        assert needed in text


def test_compose_file_wires_replicas_haproxy_and_redis():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kb", "haproxy", "redis", "publish"} <= set(services)
    kb = services["kb"]
    assert kb["environment"]["KB_REDIS_URL"].startswith("redis://redis:")
    assert kb["environment"]["KB_TRUSTED_PROXIES"], "per-client limits behind HAProxy need its X-Forwarded-For"
    assert float(kb["environment"]["KB_POLL_S"]) > 0
    index = kb["environment"]["KB_INDEX"]
    assert f"index:{index}:ro" in kb["volumes"], "replicas mount the published index read-only"
    assert f"index:{index}" in services["publish"]["volumes"], "only the publisher writes it"
    assert "--workers" in kb["command"] and kb["stop_signal"] == "SIGTERM"
    assert any(v.endswith("haproxy.cfg:ro") for v in services["haproxy"]["volumes"])
    assert _seconds(kb["stop_grace_period"]) >= _drain_budget()


def _seconds(value: str) -> float:
    return float(value.rstrip("s"))


def _drain_budget() -> float:
    """What a replica needs after SIGTERM: the drain delay, then in-flight requests' timeout."""
    defaults = Settings.model_fields
    return defaults["drain_s"].default + defaults["request_timeout_s"].default


def test_kubernetes_manifests_have_probes_autoscaling_and_a_disruption_budget():
    documents = [d for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(path.read_text())]
    kinds = {d["kind"]: d for d in documents}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= set(kinds)
    deployment = kinds["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == env["KB_INDEX"]["value"])
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"]["readOnly"] is True
    assert "KB_REDIS_URL" in env and "KB_TRUSTED_PROXIES" in env and float(env["KB_POLL_S"]["value"]) > 0
    assert pod["terminationGracePeriodSeconds"] >= _drain_budget()
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    pdb = kinds["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["minAvailable"] < deployment["spec"]["replicas"]
    assert kinds["Service"]["spec"]["selector"].items() <= labels.items()


def _dockerfile_stages() -> dict[str, str]:
    text = (REPO / "Dockerfile").read_text()
    parts = re.split(r"^FROM \S+ AS (\w+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def build_only_packages() -> list[str]:
    found = re.search(r'^ARG BUILD_ONLY="([^"]+)"', _dockerfile_stages()["runtime"], flags=re.M)
    assert found, "the runtime stage names the packages it leaves out (ARG BUILD_ONLY)"
    return found.group(1).split()


def test_dockerfile_keeps_torch_out_of_the_runtime_image():
    stages = _dockerfile_stages()
    assert list(stages) == ["ingest", "runtime"], "the runtime stage is last: the default target"
    assert "torch==" in stages["ingest"] and "ensure_onnx_export" in stages["ingest"]
    assert not re.search(r"pip install[^\n]*torch", stages["runtime"])
    assert {"torch", "sentence-transformers", "transformers"} <= set(build_only_packages())
    assert "--no-deps" in stages["runtime"] and "$BUILD_ONLY" in stages["runtime"]
    assert re.search(r'^CMD \["kb", "serve"', stages["runtime"], flags=re.M)


# What the runtime image runs, with the build-only packages made unimportable: a meta path
# finder refuses them, so any import of them on the serving path fails loudly.
_SERVE_WITHOUT = textwrap.dedent('''
    import importlib.abc, sys
    blocked = set(sys.argv[2].split())

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ImportError(f"{name} is not in the runtime image")
            return None

    sys.meta_path.insert(0, Refuse())
    from fastapi.testclient import TestClient
    from kb_service.api.app import create_app
    from kb_service.config import Settings

    app = create_app(Settings(index=sys.argv[1], profile="journey-optimizer"))
    with TestClient(app) as client:
        assert app.state.service.loaded.wait(120)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        answer = client.post("/v1/ask", json={"question": "which approach for cart abandonment?"})
        assert answer.status_code == 200, answer.text
        print("APPROACH", answer.json()["approach"])
    print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in blocked))
''')


def test_the_serving_path_runs_without_the_build_only_packages(api_index: Path):
    modules = [name.replace("-", "_") for name in build_only_packages()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    done = subprocess.run([sys.executable, "-c", _SERVE_WITHOUT, str(api_index), " ".join(modules)], cwd=REPO,
                          capture_output=True, text=True, env={**env, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "APPROACH journey" in done.stdout and "LOADED []" in done.stdout
