"""Step handlers for the engine's own tests.

They do real work on their inputs (sums, echoes of dependency results) and
take their failures from the task context, by attempt, like the examples'
fault injection: ``{"fail": {"step_name": ["retry", "permanent"]}}``.
"""

from __future__ import annotations

import time
from typing import Any

from workflows.handlers import PermanentError, RetryableError, StepContext, StepHandler


def _inject(ctx: StepContext) -> None:
    plan = ctx.context.get("fail", {}).get(ctx.step_name, [])
    if ctx.attempt > len(plan):
        return
    fault = plan[ctx.attempt - 1]
    if fault == "ok":
        return
    if fault == "retry":
        raise RetryableError(f"injected retryable fault on attempt {ctx.attempt}")
    if fault == "retry_after":
        raise RetryableError(
            "injected rate limit", retry_after=0.2, code="rate_limited"
        )
    if fault == "crash":
        raise RuntimeError(f"injected crash on attempt {ctx.attempt}")
    if fault == "permanent":
        raise PermanentError("injected permanent fault", code="injected")
    if fault == "hang":
        time.sleep(3600)
    if fault == "stubborn":
        _ignore_timeouts(ctx)
    raise PermanentError(f"unknown fault {fault!r}", code="unknown_fault")


def _ignore_timeouts(ctx: StepContext) -> None:
    """Swallow every soft time limit; leave this process's pid in ``marker_dir``."""
    import os
    from pathlib import Path

    from celery.exceptions import SoftTimeLimitExceeded

    if ctx.context.get("marker_dir"):
        Path(ctx.context["marker_dir"], f"stubborn-{os.getpid()}").touch()
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        try:
            time.sleep(3600)
        except SoftTimeLimitExceeded:
            continue


class Add(StepHandler):
    """Add ``handler_config.add`` to the sum of the dependencies' ``value``s."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        _inject(ctx)
        base = sum(
            r.get("value") or 0 for r in ctx.dependency_results.values()
        ) or ctx.context.get("start", 0)
        marker = ctx.context.get("marker_dir")
        if marker:
            # One file per handler run: lets tests count executions across processes.
            from pathlib import Path

            Path(marker, f"{ctx.step_name}-{ctx.attempt}-{time.time_ns()}").touch()
        if ctx.context.get("sleep"):
            time.sleep(float(ctx.context["sleep"]))
        return {
            "value": base + ctx.handler_config.get("add", 1),
            "attempt": ctx.attempt,
            "idempotency_key": ctx.idempotency_key,
            "parents": sorted(ctx.dependency_results),
        }


class NotADict(StepHandler):
    """Return a list: the engine must refuse it as a permanent error."""

    def process(self, ctx: StepContext) -> Any:
        return [1, 2, 3]


class CallChild(StepHandler):
    """Start ``handler_config.namespace.workflow`` as a child task."""

    def process(self, ctx: StepContext) -> Any:
        from workflows.handlers import StartSubtask

        child_context: dict[str, Any] = {"start": ctx.context.get("start", 1)}
        child_fail = ctx.context.get("child_fail")
        if child_fail:
            child_context["fail"] = child_fail
        return StartSubtask(
            namespace=ctx.handler_config["namespace"],
            workflow=ctx.handler_config["workflow"],
            context=child_context,
            outputs={"value": "third.value", "missing": "nope.value"},
        )


class Review(StepHandler):
    """Auto-approve small amounts; ask a person above ``threshold``."""

    def process(self, ctx: StepContext) -> Any:
        from workflows.handlers import AwaitApproval

        amount = ctx.context.get("amount", 0)
        if amount <= ctx.handler_config.get("threshold", 100):
            return {"auto_approved": True, "amount": amount}
        return AwaitApproval(
            reason=f"amount {amount} needs a manager", details={"amount": amount}
        )
