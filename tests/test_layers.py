"""The package's layers and acyclic modules, as import-linter checks them (contracts in pyproject.toml).

import-linter reads a plain package folder, so the test lays the mapped folders (programs/, thoughts_db/, ...)
out under one ``logreasoner/`` the way an install does, then lints that copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _plain_copy(dest: Path) -> Path:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = cfg["tool"]["setuptools"]["package-dir"]
    ignore = shutil.ignore_patterns("__pycache__", "data", "library", "*.gguf", "*.json")
    shutil.copytree(ROOT / mapping["logreasoner"], dest / "logreasoner", ignore=ignore)
    for name, folder in mapping.items():
        if name != "logreasoner":
            shutil.copytree(ROOT / folder, dest / Path(*name.split(".")), ignore=ignore)
    return dest


def _lint(tmp_path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (the dev extra installs it)")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run([exe, "--no-cache", str(ROOT / "pyproject.toml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_layers_and_acyclic_modules(tmp_path):
    result = _lint(_plain_copy(tmp_path))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    plain = _plain_copy(tmp_path)
    tasks = plain / "logreasoner" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\nfrom logreasoner.programs import modules as _upward  # noqa\n")
    result = _lint(plain)
    assert result.returncode != 0
    assert "logreasoner.tasks -> logreasoner.programs" in result.stdout
