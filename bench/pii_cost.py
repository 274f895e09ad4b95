"""What personal data at rest costs a step: seal and open CPU, and the step path.

Two measures, both in this process (no worker):

- **Seal + open CPU**: the engine's own PII work for one step of a
  refund-like task with three personal fields (``customer_email``,
  ``customer_name``, ``phone``): the task's data key (from the cache, or
  unwrapped from the claim's joined row on the first step of a task a
  worker sees), opening the sealed context, and sealing a results dict with
  the same three fields. ``time.process_time`` over many iterations; the
  target is 0.2 ms per step.
- **The step path**: claim → run → settle (``execute_step``) of 1-step
  tasks, with no-op steps, and with the same refund step given a
  plaintext-only context versus a context with three personal fields. The
  difference in this process's CPU per step is the sealing's cost as the
  engine really pays it (PostgreSQL's CPU for the longer tokens is not in it).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.config import QUICK, log
from bench.measure import REPEATS, median_run

# A refund: the order's fields, and who to refund, in two spellings. The
# plaintext one names the customer by references no definition marks
# personal; the personal one by the three fields every definition seals.
ORDER = {"order_id": "ORD-100234", "amount_cents": 4599, "currency": "EUR"}
PLAINTEXT_CONTEXT = {
    **ORDER,
    "customer_ref": "CUS-0009921",
    "account_ref": "ACC-7781-22",
    "ticket_ref": "TCK-2026-0412",
}
PERSONAL_CONTEXT = {
    **ORDER,
    "customer_email": "grace.hopper@example.com",
    "customer_name": "Grace Hopper",
    "phone": "+44 20 7946 0958",
}
PERSONAL_FIELDS = ("customer_email", "customer_name", "phone")
TARGET_MS = 0.2


def seal_open_cpu(iterations: int) -> dict[str, Any]:
    """Return the CPU ms per step of the engine's seal + open work, and its parts."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from audit import crypto
    from audit.pii import PII_KEYS

    keys = PII_KEYS  # what a definition without x-pii marks seals
    raw = AESGCM.generate_key(bit_length=256)
    wrapped, master_id = crypto.wrap(raw)
    key_id = uuid.uuid4()
    box = crypto.box_from_row(key_id, wrapped, master_id)  # unwraps, caches
    stored = box.seal(PERSONAL_CONTEXT, keys)
    results = {
        "refund_id": "R-ORD-100234",
        **{k: PERSONAL_CONTEXT[k] for k in PERSONAL_FIELDS},
    }
    if box.open(stored) != PERSONAL_CONTEXT:
        raise RuntimeError("the sealed refund context does not open to itself")

    def timed(fn: Any) -> float:
        fn()  # warm
        began = time.process_time()
        for _ in range(iterations):
            fn()
        return (time.process_time() - began) * 1000 / iterations

    def cold_key() -> None:
        crypto.forget([key_id])
        crypto.box_from_row(key_id, wrapped, master_id)

    unwrap_ms = timed(cold_key)
    key_ms = timed(lambda: crypto.box_from_row(key_id, wrapped, master_id))
    open_ms = timed(lambda: box.open(stored))
    seal_ms = timed(lambda: box.seal(results, keys))
    # The same walks over a context with nothing to open or seal: what the
    # engine paid for these calls before any field was personal.
    plain_results = {"refund_id": "R-ORD-100234", "customer_ref": "CUS-0009921"}
    plain_ms = timed(
        lambda: (box.open(PLAINTEXT_CONTEXT), box.seal(plain_results, keys))
    )
    crypto.forget([key_id])
    total = key_ms + open_ms + seal_ms
    return {
        "iterations": iterations,
        "personal_fields": len(PERSONAL_FIELDS),
        "key_from_cache_ms": key_ms,
        "key_unwrap_ms": unwrap_ms,
        "open_context_ms": open_ms,
        "seal_results_ms": seal_ms,
        # A later step of a task on a warm worker: its key is cached.
        "ms_per_step": total,
        # The first step of a task on a worker: its key is unwrapped (every
        # step of a 1-step task). Every task has a key, personal data or not.
        "ms_per_step_cold": total - key_ms + unwrap_ms,
        "plaintext_walk_ms": plain_ms,
        "target_ms": TARGET_MS,
    }


def step_path(count: int) -> dict[str, Any]:
    """Return claim → settle per step: no-op, plaintext refund, personal refund.

    The plaintext and personal runs alternate (median of ``REPEATS`` each) so
    a slow patch of the shared machine hits both alike.
    """
    from bench.in_process import step_cost

    noop = median_run(step_cost, count)
    plain_runs, personal_runs = [], []
    for _ in range(REPEATS):
        plain_runs.append(step_cost(count, "refund_1", PLAINTEXT_CONTEXT))
        personal_runs.append(step_cost(count, "refund_1", PERSONAL_CONTEXT))

    def median(runs: list[dict[str, Any]], key: str) -> float:
        values = sorted(run[key] for run in runs)
        return values[len(values) // 2]

    out: dict[str, Any] = {"noop": noop, "steps": count}
    for label, runs in (("plaintext", plain_runs), ("personal", personal_runs)):
        out[label] = {
            "ms_per_step": median(runs, "ms_per_step"),
            "cpu_ms_per_step": median(runs, "cpu_ms_per_step"),
            "all_cpu_ms": [run["cpu_ms_per_step"] for run in runs],
        }
    out["extra_cpu_ms_per_step"] = (
        out["personal"]["cpu_ms_per_step"] - out["plaintext"]["cpu_ms_per_step"]
    )
    out["extra_ms_per_step"] = (
        out["personal"]["ms_per_step"] - out["plaintext"]["ms_per_step"]
    )
    return out


def pii_costs(count: int | None = None, iterations: int | None = None) -> dict:
    """Run both measures (the database must be migrated and the bench synced)."""
    count = count or (300 if QUICK else 1000)
    iterations = iterations or (2000 if QUICK else 20000)
    log("PII seal + open CPU per step")
    sealing = seal_open_cpu(iterations)
    log("in-process claim → settle: no-op, plaintext and personal refund steps")
    return {"seal_open": sealing, "step_path": step_path(count)}
