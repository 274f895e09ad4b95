"""Time-ordered UUIDs (RFC 9562 version 7) for public ids.

Version-7 ids sort by creation time, so a primary-key index grows at its
right edge instead of taking random inserts across a million-row table.
"""

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """Return a new version-7 UUID: 48-bit Unix milliseconds, then randomness."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 64) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)
