"""Fixtures of the example-workflow tests."""

from __future__ import annotations

import pytest

from examples.seed import seed_examples


@pytest.fixture
def seeded(db) -> dict[str, int]:
    """Seed the simulated systems as ``seed_demo`` does."""
    return seed_examples()
