import pytest

from usage.ingest import services


@pytest.fixture
def nudges(monkeypatch):
    """Record rollup nudges instead of running the rollup (tested in test_rollups)."""
    calls = []
    monkeypatch.setattr(services, "_nudge_rollup", calls.append)
    return calls
