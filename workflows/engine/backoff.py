"""Retry delays: the handler's ``retry_after``, else capped exponential backoff."""

from __future__ import annotations

import random


def retry_delay(
    *,
    attempt: int,
    base_seconds: float,
    max_seconds: float,
    jitter: bool,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Return seconds to wait before the attempt after ``attempt``.

    ``retry_after`` (a gateway's Retry-After) wins, capped at ``max_seconds``.
    Otherwise ``min(max, base · 2^(attempt−1))``; with jitter the delay is
    drawn from [50 %, 100 %] of that ("equal jitter"), so a herd of retries
    spreads out without ever retrying sooner than half the backoff.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if retry_after is not None:
        return float(min(max(retry_after, 0.0), max_seconds))
    delay = min(max_seconds, base_seconds * (2 ** (attempt - 1)))
    if jitter and delay > 0:
        draw = (rng or random).uniform(0.5, 1.0)
        delay *= draw
    return float(delay)
