"""Failure injection from the task context, for demos and tests.

Every timeout, whichever system it comes from, has the code
``gateway_timeout`` (HTTP 504's name for an upstream that did not answer).

A context such as ``{"simulate": {"process_payment": ["timeout", "timeout"]}}``
makes attempts 1 and 2 of step ``process_payment`` fail with a gateway
timeout; attempt 3 and later run normally. The plan is indexed by the
attempt number, so injection is stateless and survives worker restarts.

Handlers call :func:`inject_fault` just before their external call and
:func:`inject_fault_after_commit` just after it: ``timeout_after_commit``
lets the external system do its work and then loses the reply, which is
what idempotency keys exist for.
"""

from __future__ import annotations

import time
from typing import Any

from workflows.handlers import PermanentError, RetryableError, StepContext

TIMEOUT = "timeout"
RATE_LIMIT = "rate_limit"
UNAVAILABLE = "unavailable"
CRASH = "crash"
PERMANENT = "permanent"
HANG = "hang"
TIMEOUT_AFTER_COMMIT = "timeout_after_commit"

FAULTS = (
    TIMEOUT,
    RATE_LIMIT,
    UNAVAILABLE,
    CRASH,
    PERMANENT,
    HANG,
    TIMEOUT_AFTER_COMMIT,
)

# Long enough that only a killed worker or an expired lease ends the attempt.
HANG_SECONDS = 3600


def planned_fault(ctx: StepContext) -> str | None:
    """Return the fault planned for this attempt of this step, or None."""
    simulate: Any = ctx.context.get("simulate") or {}
    if not isinstance(simulate, dict):
        return None
    plan = simulate.get(ctx.step_name) or []
    if not isinstance(plan, list) or not 1 <= ctx.attempt <= len(plan):
        return None
    fault = plan[ctx.attempt - 1]
    if fault not in FAULTS:
        raise PermanentError(
            f"step '{ctx.step_name}' was asked to simulate unknown fault {fault!r}; "
            f"known faults: {', '.join(FAULTS)}",
            code="unknown_fault",
        )
    return fault


def inject_fault(ctx: StepContext, *, system: str) -> None:
    """Raise the fault planned for this attempt, before calling ``system``.

    ``timeout_after_commit`` is left to :func:`inject_fault_after_commit`.
    """
    fault = planned_fault(ctx)
    if fault is None or fault == TIMEOUT_AFTER_COMMIT:
        return
    where = (
        f"simulated {fault} of {system} (step '{ctx.step_name}', attempt {ctx.attempt})"
    )
    if fault == TIMEOUT:
        raise RetryableError(where, code="gateway_timeout")
    if fault == RATE_LIMIT:
        raise RetryableError(where, retry_after=1, code="rate_limited")
    if fault == UNAVAILABLE:
        raise RetryableError(where, code="service_unavailable")
    if fault == CRASH:
        raise RuntimeError(where)
    if fault == PERMANENT:
        raise PermanentError(where, code="injected_permanent")
    if fault == HANG:
        time.sleep(HANG_SECONDS)
        raise RetryableError(where, code="gateway_timeout")


def inject_fault_after_commit(ctx: StepContext, *, system: str) -> None:
    """Raise a timeout when ``timeout_after_commit`` is planned for this attempt.

    Called after ``system`` committed its work: the retry must find that work
    by its idempotency key instead of doing it again.
    """
    if planned_fault(ctx) == TIMEOUT_AFTER_COMMIT:
        raise RetryableError(
            f"simulated timeout of {system} after it committed (step "
            f"'{ctx.step_name}', attempt {ctx.attempt})",
            code="gateway_timeout",
        )
