"""Retry delays: exponential, capped, honouring the handler's retry_after."""

from __future__ import annotations

from workflows.engine.backoff import retry_delay


def test_backoff_is_exponential_capped_and_honours_retry_after():
    import random

    rng = random.Random(7)
    plain = [
        retry_delay(attempt=a, base_seconds=1, max_seconds=10, jitter=False)
        for a in range(1, 7)
    ]
    assert plain == [1, 2, 4, 8, 10, 10]
    jittered = retry_delay(
        attempt=3, base_seconds=1, max_seconds=10, jitter=True, rng=rng
    )
    assert 2 <= jittered <= 4
    assert (
        retry_delay(
            attempt=1, base_seconds=1, max_seconds=10, jitter=True, retry_after=7
        )
        == 7
    )
    assert (
        retry_delay(
            attempt=1, base_seconds=1, max_seconds=10, jitter=True, retry_after=99
        )
        == 10
    )
