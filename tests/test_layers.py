"""The import contracts of pyproject.toml ([tool.importlinter]: asr/__init__.py's layers, no import cycles) hold,
and they catch what they are there for: an import from a higher layer, even one inside a function."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # installed beside the interpreter ('.[test]')


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """lint-imports on the package under `root` (it puts its working folder first on sys.path)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    run = lint_imports(ROOT)
    assert run.returncode == 0, f"lint-imports (pyproject.toml's [tool.importlinter]) failed:\n{run.stdout}{run.stderr}"


def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path):
    shutil.copytree(ROOT / "asr", tmp_path / "asr", ignore=shutil.ignore_patterns("__pycache__", "_resources"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "asr" / "model" / "config.py", "a") as f:
        f.write("\n\ndef _upward():\n    import asr.inference.transcriber  # noqa: F401 - the model layer is below\n")
    run = lint_imports(tmp_path)
    assert run.returncode != 0
    assert "asr.model is not allowed to import asr.inference" in run.stdout, run.stdout
