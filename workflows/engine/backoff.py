"""Retry delays: the handler's ``retry_after``, else capped exponential backoff."""

from __future__ import annotations

import math
import random

# No delay is longer than a day, whatever a definition or a handler asks:
# the loader refuses longer backoffs, and this keeps a row written before
# that rule (or a Retry-After of a misbehaving gateway) from overflowing.
MAX_DELAY_SECONDS = 86_400.0


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
    cap = _bounded(max_seconds, MAX_DELAY_SECONDS)
    if retry_after is not None:
        return float(min(max(_bounded(retry_after, cap), 0.0), cap))
    base = max(_bounded(base_seconds, cap), 0.0)
    # 2**1024 overflows a float; past 2**60 any base reaches the cap anyway.
    delay = cap if attempt > 61 else min(cap, base * (2 ** (attempt - 1)))
    if jitter and delay > 0:
        draw = (rng or random).uniform(0.5, 1.0)
        delay *= draw
    return float(delay)


def _bounded(value: float, cap: float) -> float:
    """Return ``value`` as a finite float no larger than ``cap`` (NaN → cap)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return cap
    if math.isnan(number):
        return cap
    return min(number, cap)
