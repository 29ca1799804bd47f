from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def fresh_records():
    """Dataset records are cached per spec; clear the cache around tests that change where data comes from."""
    from logreasoner.evals.datasets import _cached_records

    _cached_records.cache_clear()
    yield
    _cached_records.cache_clear()
