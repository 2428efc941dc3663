"""The package as users install it: a wheel built from this checkout, `pip install`ed (not editable) into a
fresh virtual environment and run from an unrelated folder, finds its recipes and configs (asr/_resources/) and
runs the commands that read them. The dependencies (torch, lightning, ...) are borrowed from the environment
running the tests through a .pth file, so nothing is downloaded; `asr` itself comes only from the wheel."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd"


TOP_LEVEL_OUTPUTS = {".venv", ".git", "exp", "data", "build", ".pytest_cache"}  # beside the package, not in it


def _not_source(folder: str, names: list[str]) -> list[str]:
    top = Path(folder) == ROOT
    return [n for n in names if (top and n in TOP_LEVEL_OUTPUTS) or n in ("__pycache__", "_resources")
            or n.endswith(".egg-info")]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so the build leaves no build/ or egg-info in the checkout
    shutil.copytree(ROOT, src, ignore=_not_source)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)],
                          capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = (tmp / "dist").glob("asr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "asr/_resources/recipes/tts/digits.yaml" in names and "asr/_resources/conf/model/tiny.yaml" in names
    assert "asr/_resources/conf/trainer/defaults.yaml" in names
    assert not any(n.startswith(("recipes/", "conf/", "tests/")) for n in names)  # only the package, nothing beside
    assert "asr/data/datamodule.py" in names and "asr/training/task.py" in names
    assert {"asr/serve/static/index.html", "asr/serve/static/app.js", "asr/serve/static/style.css"} <= set(names)

    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    py = env_dir / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # A path a .pth adds is not itself a site dir, so the editable install of this checkout there stays inert.
    (Path(purelib) / "borrowed-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return env_dir / "bin"


def run_installed(bin_dir: Path, cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    return subprocess.run([*map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(900)
def test_the_installed_wheel_runs_its_commands_from_another_folder(venv, tmp_path):
    asr = venv / "asr"
    where = run_installed(venv, tmp_path, venv / "python", "-c", "import asr, asr.resources as r, asr.demo as d; "
                          "print(asr.__file__); print(r.resource(d.RECIPE))")
    assert where.returncode == 0, where.stderr[-2000:]
    module, recipe = where.stdout.split()
    assert not module.startswith(str(ROOT)) and not recipe.startswith(str(ROOT))  # not this checkout's files
    assert "_resources" in recipe

    # the demo's recipe, with the shared trainer defaults and the model size it composes, parses from the wheel
    printed = run_installed(venv, tmp_path, asr, "fit", "--config", recipe, "--print_config")
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert "gradient_clip_val: 5.0" in printed.stdout and "d_model: 144" in printed.stdout  # defaults + tiny.yaml
    assert "val_wer" in printed.stdout  # conf/trainer/defaults.yaml's checkpoint callback

    bench = run_installed(venv, tmp_path, asr, "bench", "train-step", "--size", "tiny", "--batch", "2", "--frames",
                          "120", "--tokens", "5", "--steps", "1", "--warmup", "0", "--threads", "1")
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert '"size": "tiny"' in bench.stdout

    page = run_installed(venv, tmp_path, venv / "python", "-c", "from asr.serve.app import STATIC; "
                         "print(STATIC, (STATIC / 'index.html').read_text().count('app.js'))")
    assert page.returncode == 0 and not page.stdout.startswith(str(ROOT)), page.stderr[-2000:]
    assert page.stdout.split()[1] == "1"  # the page `asr serve` shows, and the script it loads, are in the wheel

    demo = run_installed(venv, tmp_path, asr, "demo", "--help")
    assert demo.returncode == 0 and "--fsdd" in demo.stdout, demo.stderr[-2000:]

    if FSDD.is_dir():
        prep = run_installed(venv, tmp_path, asr, "prepare", "fsdd", "--out", "fsdd", "--root", FSDD)
        assert prep.returncode == 0, prep.stderr[-2000:]
        assert (tmp_path / "fsdd" / "train_cuts.jsonl.gz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["fsdd"] if FSDD.is_dir() else [])  # nothing else written
