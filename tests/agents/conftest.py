"""Fixtures for the agents tests: copies of the fixture log folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def logs_dir(tmp_path: Path) -> Path:
    """A copy of the fixture log folder (tests may add symlinks and files to it)."""
    dst = tmp_path / "logs"
    shutil.copytree(FIXTURES / "logs", dst)
    return dst


@pytest.fixture
def injection_dir(tmp_path: Path) -> Path:
    dst = tmp_path / "injection"
    shutil.copytree(FIXTURES / "injection", dst)
    return dst
