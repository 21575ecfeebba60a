"""Fixtures for the executor tests: a batch store in the call cache's file (the `cache` fixture: tests/conftest.py).

Runs against: nothing itself (fixtures for the other test files).
"""

from __future__ import annotations

import pytest

from codeclm.executors.batch_store import BatchStore


@pytest.fixture
def store(cache):
    batches = BatchStore(cache.path)
    yield batches
    batches.close()
