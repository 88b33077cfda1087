"""The non-editable install: a real wheel, installed into a throw-away venv, finds its data files.

Everything else installs kb with ``-e``, where files beside the modules are always there; a
wheel carries only what pyproject.toml declares as package data. This builds the wheel with
pip, installs it (no dependencies: the throw-away venv borrows the project venv's
site-packages through a .pth line, so nothing is downloaded) and imports kb from there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = (".json", ".toml", ".html", ".css", ".js")


def data_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kb_service").rglob("*")
                  if p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of the sources: setuptools writes build/ and *.egg-info beside the
    # project it builds, and a stale build/ of the checkout would hide a missing declaration.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "kb_service", source / "kb_service", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: the venv's own setuptools builds it, offline and in seconds.
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(out), str(source)], capture_output=True, text=True, timeout=300,
                          cwd=out)
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("kb_service-*.whl")
    return built


def test_the_wheel_carries_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kb_service/profiles/journey_optimizer/calibration.json" in names
    missing = [f for f in data_files() if f not in names]
    assert not missing, f"data files left out of the wheel (declare them in pyproject.toml): {missing}"


def test_an_installed_wheel_reads_the_fitted_calibration_not_the_default(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The project venv's packages, as plain path entries: its editable-install hooks (.pth
    # files there) are not run, so kb can only come from the wheel.
    (site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300, capture_output=True)
    script = (
        "import json, kb_service\n"
        "from importlib.resources import files\n"
        "from kb_service.profiles import load_profile\n"
        "shipped = json.loads(files('kb_service').joinpath('profiles/journey_optimizer/calibration.json').read_text())\n"
        "print(json.dumps({'module': kb_service.__file__, 'shipped': shipped.get('threshold'),\n"
        "                  'used': load_profile('journey-optimizer').calibration['threshold']}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert Path(seen["module"]).is_relative_to(site), seen  # the wheel's copy, not the checkout
    fitted = json.loads((ROOT / "kb_service/profiles/journey_optimizer/calibration.json").read_text())["threshold"]
    assert seen["shipped"] == fitted
    assert seen["used"] == fitted != 0.5  # what kb answers with: the profile's fitted threshold
