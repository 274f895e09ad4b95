"""Run one step: claim it, call its handler outside any transaction, settle it.

1. **Claim** — ``enqueued → in_progress`` with ``attempts + 1`` and a lease
   from the database clock, in one conditional UPDATE. No row changed means
   a duplicate or stale message: acknowledge and return.
2. **Run** — the handler runs with no transaction open.
3. **Complete / fail** — conditional UPDATEs fenced by the attempt number,
   so the result of an attempt whose lease expired (and was re-claimed,
   cancelled or failed) is discarded, never applied twice.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, Q, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils.module_loading import import_string

from tasker_project.core import context
from tasker_project.core.actors import WORKER, Actor
from workflows.engine import claim_sql, dispatch, limits, sealing, settle_sql
from workflows.engine.backoff import retry_delay
from workflows.engine.claim_sql import Claim
from workflows.engine.progress import (
    enqueue_ready_children,
    finalize_task,
    lock_task,
    settle_parent_step,
)
from workflows.engine.states import REASON_HANDLER_SUCCEEDED, StepStatus
from workflows.engine.subtasks import begin_subtask, existing_child, rejoin_subtask
from workflows.engine.transitions import step_transition
from workflows.handlers import (
    AwaitApproval,
    PermanentError,
    RetryableError,
    StartSubtask,
    StepContext,
)
from workflows.models import StepKind, Task

logger = logging.getLogger(__name__)

_handler_cache: dict[str, type] = {}


def load_handler(dotted: str) -> Any:
    """Return a new instance of the handler class at ``dotted`` (cached import)."""
    cls = _handler_cache.get(dotted)
    if cls is None:
        try:
            cls = import_string(dotted)
        except ImportError as exc:
            raise PermanentError(
                f"handler '{dotted}' does not import: {exc}", code="handler_import"
            ) from exc
        _handler_cache[dotted] = cls
    return cls()


def db_now_plus(seconds: float) -> ExpressionWrapper[CombinedExpression]:
    """Return ``now() + seconds`` evaluated by the database clock."""
    return ExpressionWrapper(
        Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField()
    )


@dataclass(slots=True)
class Continuation:
    """Lets a worker run one ready child of the step it settles, without a message.

    The child stays ``enqueued`` in the database until this process claims
    it, so a crash in between loses nothing: the sweeper republishes an
    enqueued step nobody claimed. ``deadline`` (monotonic) is when the
    message's Celery soft limit fires: a child is taken only if its whole
    timeout fits before it, so the step's own limit always fires first.
    """

    MARGIN_SECONDS: ClassVar[float] = 2.0

    steps_left: int
    deadline: float | None = None
    held: tuple[Any, int] | None = None

    def take(self, ready: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
        """Hold the first of ``ready`` if allowed; return the ones to publish."""
        if not ready or self.held is not None or self.steps_left <= 0:
            return ready
        child_id, timeout = ready[0]
        # The margin leaves the child's settle (or failure) time to finish
        # before the message's Celery soft limit could interrupt it.
        if (
            self.deadline is not None
            and time.monotonic() + timeout + self.MARGIN_SECONDS > self.deadline
        ):
            return ready
        self.held = (child_id, timeout)
        return ready[1:]


def execute_steps(
    step_id: Any, *, max_steps: int, soft_limit_seconds: float | None = None
) -> str:
    """Run ``step_id``, then up to ``max_steps - 1`` of its descendants in turn.

    Used by the worker: a linear chain runs without a broker round trip per
    step. Each step is still claimed, leased, time-limited and settled on
    its own. Only in a process that enforces step time limits itself (see
    :mod:`workflows.engine.limits`); elsewhere one step per message.
    """
    if max_steps <= 1 or not limits.enabled():
        return execute_step(step_id)
    deadline = time.monotonic() + soft_limit_seconds if soft_limit_seconds else None
    continuation = Continuation(steps_left=max_steps - 1, deadline=deadline)
    outcome = execute_step(step_id, continuation=continuation)
    while continuation.held is not None:
        child_id, _ = continuation.held
        continuation.held = None
        continuation.steps_left -= 1
        outcome = execute_step(child_id, continuation=continuation)
    return outcome


def execute_step(step_id: Any, *, continuation: Continuation | None = None) -> str:
    """Run one wake-up for ``step_id``; return what happened (for logs/tests)."""
    claimed_at = time.monotonic()
    claim = claim_step(step_id)
    if claim is None and _wake_if_due(step_id):
        claimed_at = time.monotonic()
        claim = claim_step(step_id)
    if claim is None:
        return "skipped"
    # Everything the attempt writes (audit events, auditlog diffs) carries
    # the task's correlation id and its initiator; a worker has no client.
    with context.bind(
        correlation_id=claim.correlation_id,
        initiator_label=claim.initiator_label,
        remote_addr=None,
    ):
        return _run_claimed(claim, claimed_at=claimed_at, continuation=continuation)


def _run_claimed(
    claim: Claim, *, claimed_at: float, continuation: Continuation | None
) -> str:
    """Run the handler of a claimed attempt and settle it (see :func:`execute_step`)."""
    attempt = claim.attempts
    if claim.kind == StepKind.SUBWORKFLOW:
        child = existing_child(claim.pk)
        if child is not None:
            return rejoin_subtask(step=claim, attempt=attempt, child=child)
    try:
        sealing.open_claim(claim)
        ctx = build_context(claim)
        handler = load_handler(claim.handler)
        with limits.step_time_limit(
            claim.timeout_seconds,
            settings.TASKER["LEASE_GRACE_SECONDS"],
            f"step {claim.pk} ({claim.name})",
            since=claimed_at,
        ):
            outcome = handler.process(ctx)
        if isinstance(outcome, AwaitApproval):
            return await_approval(step=claim, attempt=attempt, request=outcome)
        if isinstance(outcome, StartSubtask):
            _require_kind(claim, StepKind.SUBWORKFLOW, "start a subtask")
            return begin_subtask(step=claim, attempt=attempt, request=outcome)
        results = _checked_results(claim, outcome)
    except Exception as exc:  # every handler error is recorded on the step
        return fail_attempt(step=claim, attempt=attempt, exc=exc)
    return complete_attempt(
        step=claim, attempt=attempt, results=results, continuation=continuation
    )


def _require_kind(claim: Claim, kind: str, what: str) -> None:
    if claim.kind != kind:
        raise PermanentError(
            f"step '{claim.name}' is a {claim.kind} step and cannot {what}; "
            f"declare it kind: {kind}",
            code="wrong_step_kind",
        )


def await_approval(*, step: Claim, attempt: int, request: AwaitApproval) -> str:
    """Park an approval step until a person decides; nothing polls it."""
    _require_kind(step, StepKind.APPROVAL, "wait for approval")
    details = dict(request.details)
    try:
        if "\\u0000" in json.dumps(details, allow_nan=False):
            raise ValueError("a NUL character (\\u0000) cannot be stored")
    except (TypeError, ValueError) as exc:
        raise PermanentError(
            f"approval details of step '{step.name}' are not JSON-serialisable: {exc}",
            code="bad_results",
        ) from exc
    # The request is stored like results: details sealed, the reason (prose)
    # with the task's personal values masked.
    reason = sealing.claim_scrubber(step, details).text(request.reason)
    moved = step_transition(
        step_id=step.pk,
        from_status=StepStatus.IN_PROGRESS,
        to_status=StepStatus.WAITING_FOR_APPROVAL,
        actor=WORKER,
        attempt=attempt,
        reason=reason[:500],
        updates={
            "lease_expires_at": None,
            "approval_request": {
                "reason": reason,
                "details": sealing.seal_for_claim(step, details),
            },
        },
        step_name=step.name,
    )
    return "waiting_for_approval" if moved else "fenced"


def _wake_if_due(step_id: Any) -> bool:
    """Move a step waiting for retry whose time has come back to ``enqueued``."""
    return step_transition(
        step_id=step_id,
        from_status=StepStatus.WAITING_FOR_RETRY,
        to_status=StepStatus.ENQUEUED,
        actor=WORKER,
        reason="retry due",
        updates={"enqueued_at": Now(), "next_attempt_at": None},
        where=Q(next_attempt_at__lte=Now()),
    )


def claim_step(step_id: Any) -> Claim | None:
    """Claim ``step_id`` for one attempt, or return None if someone else has it.

    One conditional ``UPDATE … RETURNING`` with the transition row (see
    :mod:`workflows.engine.claim_sql`); no row changed means a duplicate or
    stale wake-up.

    The claim's commit does not wait for the WAL flush: whether a database
    crash forgets it or not, the attempt is redone (a forgotten claim leaves
    the step ``enqueued``, which the sweeper republishes; a remembered one
    expires its lease), and the settle's own commit flushes it in any case.
    Other sessions see the claim at once either way, so duplicates still
    lose it.
    """
    return claim_sql.claim(
        step_id, settings.TASKER["LEASE_GRACE_SECONDS"], WORKER.label, "off"
    )


def build_context(claim: Claim) -> StepContext:
    """Return the handler's view of this attempt."""
    return StepContext(
        task_id=str(claim.task_id),
        step_id=str(claim.pk),
        step_name=claim.name,
        namespace=claim.namespace_slug,
        workflow=claim.workflow,
        version=claim.version,
        context=claim.context,
        dependency_results=claim.dependency_results,
        handler_config=claim.handler_config,
        attempt=claim.attempts,
        max_attempts=claim.max_attempts,
        idempotency_key=f"tasker:{claim.task_id}:{claim.name}",
        correlation_id=claim.correlation_id,
    )


def _checked_results(step: Claim, results: Any) -> dict[str, Any]:
    """Refuse results that are not a JSON object: a handler bug, not a fault."""
    if results is None:
        return {}
    if not isinstance(results, dict):
        raise PermanentError(
            f"handler of step '{step.name}' returned {type(results).__name__}, "
            "expected a dict",
            code="bad_results",
        )
    try:
        text = json.dumps(results, allow_nan=False)
        if "\\u0000" in text:
            raise ValueError("a NUL character (\\u0000) cannot be stored")
    except (TypeError, ValueError) as exc:
        raise PermanentError(
            f"results of step '{step.name}' are not JSON-serialisable: {exc}",
            code="bad_results",
        ) from exc
    return results


def complete_attempt(
    *,
    step: Claim,
    attempt: int,
    results: dict[str, Any],
    actor: Actor = WORKER,
    continuation: Continuation | None = None,
) -> str:
    """Record success, enqueue ready children and finalize the task.

    With ``continuation``, one ready child may be held for this process to
    run next instead of being published. ``results`` are stored sealed under
    the task's key.
    """
    results = sealing.seal_for_claim(step, results)
    if connection.vendor == "postgresql":
        return _complete_attempt_postgresql(step, attempt, results, actor, continuation)
    with transaction.atomic():
        task = lock_task(step.task_id)
        done = step_transition(
            step_id=step.pk,
            from_status=StepStatus.IN_PROGRESS,
            to_status=StepStatus.COMPLETE,
            actor=actor,
            attempt=attempt,
            reason=REASON_HANDLER_SUCCEEDED,
            updates={
                "results": results,
                "error": None,
                "lease_expires_at": None,
                "completed_at": Now(),
            },
            step_name=step.name,
        )
        if not done:
            _log_fenced(step, attempt)
            return "fenced"
        if not enqueue_ready_children(
            task=task, step_id=step.pk, actor=actor, hold=continuation
        ):
            # A child just enqueued keeps the task open: only a step that
            # enqueued nothing can be the task's last.
            finalize_task(task=task, actor=actor)
    return "complete"


def _complete_attempt_postgresql(
    claim: Claim,
    attempt: int,
    results: dict[str, Any],
    actor: Actor,
    continuation: Continuation | None,
) -> str:
    """The same as the ORM path, in one call of ``tasker_step_complete``.

    Outside a transaction the call commits by itself (one round trip); a
    subtask's completion also settles its parent step, in the same
    transaction.
    """
    with transaction.atomic() if claim.parent_step_id else nullcontext():
        settled = settle_sql.step_complete(
            step_id=claim.pk,
            task_id=claim.task_id,
            attempt=attempt,
            results=results,
            actor=actor.label,
            synchronous_commit=settings.TASKER["WORKER_SYNCHRONOUS_COMMIT"],
        )
        if settled.fenced:
            _log_fenced(claim, attempt)
            return "fenced"
        ready = continuation.take(settled.ready) if continuation else settled.ready
        dispatch.publish_steps_on_commit(ready, namespace_slug=claim.namespace_slug)
        if settled.task_status and claim.parent_step_id:
            settle_parent_step(
                child=Task.objects.select_related("definition").get(pk=claim.task_id)
            )
    return "complete"


def _log_fenced(step: Claim, attempt: int) -> None:
    logger.warning(
        "step %s attempt %s finished after it lost its claim; result discarded",
        step.pk,
        attempt,
    )


def error_record(exc: BaseException, attempt: int) -> dict[str, Any]:
    """Return the step's ``error`` JSON for ``exc``."""
    if isinstance(exc, SoftTimeLimitExceeded):
        message, code = "step exceeded its timeout", "timeout"
    else:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        code = getattr(exc, "code", None) or "unhandled_exception"
    return {
        "class": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(message).replace("\x00", ""),
        "code": code,
        "attempt": attempt,
        "traceback": "".join(traceback.format_exception(exc))[-8000:].replace(
            "\x00", ""
        ),
    }


def fail_attempt(
    *, step: Claim, attempt: int, exc: BaseException, actor: Actor = WORKER
) -> str:
    """Record a failed attempt: wait for retry if allowed, else fail the step.

    The error's prose (message, traceback) is stored with the task's known
    personal values masked: handlers copy data into exception messages.
    """
    error = sealing.claim_scrubber(step).error(error_record(exc, attempt))
    can_retry = (
        step.retryable
        and not isinstance(exc, PermanentError)
        and attempt < step.max_attempts
    )
    if can_retry:
        delay = retry_delay(
            attempt=attempt,
            base_seconds=step.backoff_base_seconds,
            max_seconds=step.backoff_max_seconds,
            jitter=step.backoff_jitter,
            retry_after=exc.retry_after if isinstance(exc, RetryableError) else None,
        )
        with transaction.atomic():
            moved = step_transition(
                step_id=step.pk,
                from_status=StepStatus.IN_PROGRESS,
                to_status=StepStatus.WAITING_FOR_RETRY,
                actor=actor,
                attempt=attempt,
                reason=f"{error['code']}: {error['message']}"[:500],
                metadata={"retry_in_seconds": round(delay, 3)},
                updates={
                    "error": error,
                    "lease_expires_at": None,
                    "next_attempt_at": db_now_plus(delay),
                },
                step_name=step.name,
            )
            if moved:
                dispatch.publish_on_commit(
                    step.pk,
                    namespace_slug=step.namespace_slug,
                    timeout_seconds=step.timeout_seconds,
                    countdown=delay,
                )
        return "retry" if moved else "fenced"
    with transaction.atomic():
        task = lock_task(step.task_id)
        moved = step_transition(
            step_id=step.pk,
            from_status=StepStatus.IN_PROGRESS,
            to_status=StepStatus.FAILED,
            actor=actor,
            attempt=attempt,
            reason=f"{error['code']}: {error['message']}"[:500],
            updates={"error": error, "lease_expires_at": None, "completed_at": Now()},
            step_name=step.name,
        )
        if moved:
            finalize_task(task=task, actor=actor)
    return "failed" if moved else "fenced"
