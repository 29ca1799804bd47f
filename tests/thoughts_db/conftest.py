from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def disk_full_path() -> Path:
    return FIXTURES / "disk_full.mmd"


@pytest.fixture
def disk_full(disk_full_path):
    from logreasoner.thoughts_db import load_flowchart

    return load_flowchart(disk_full_path)


@pytest.fixture
def store(tmp_path):
    from logreasoner.thoughts_db import ThoughtStore

    s = ThoughtStore(tmp_path / "t.db", embeddings=False)
    yield s
    s.close()
