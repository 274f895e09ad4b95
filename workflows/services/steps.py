"""Services on steps: manual retry and manual resolution."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.functions import Now

from audit.trail import audit_record
from namespaces.models import Namespace
from namespaces.permissions import authorize
from namespaces.roles import Action
from tasker_project.core.actors import Actor
from tasker_project.core.errors import ConcurrentChange, IllegalTransition, TaskerError
from tasker_project.core.json_values import ensure_storable
from workflows.engine import dispatch, sealing
from workflows.engine.progress import enqueue_ready_children, finalize_task, lock_task
from workflows.engine.states import StepStatus, TaskStatus, step_can_move
from workflows.engine.transitions import step_transition, task_transition
from workflows.models import Step, StepKind
from workflows.services.duties import require_approvals_decided


def _authorize_step(step: Step, actor: Actor, action: str) -> None:
    namespace = Namespace.objects.get(tasks__steps=step)
    authorize(actor=actor, namespace=namespace, action=action, target=f"step {step.pk}")


def step_retry(*, step: Step, actor: Actor, reason: str = "") -> Step:
    """Re-enqueue a failed step with a fresh budget of attempts.

    ``attempts`` keeps counting (it fences late results); the step gets
    ``retry_limit`` more. A failed task goes back to ``in_progress``.
    Refused while an approval step it depends on is not complete
    (:mod:`workflows.services.duties`).
    """
    ensure_storable({"reason": reason})
    _authorize_step(step, actor, Action.RETRY)
    require_approvals_decided(step=step, actor=actor, verb="retry")
    return _step_retry(step=step, actor=actor, reason=reason)


@transaction.atomic
def _step_retry(*, step: Step, actor: Actor, reason: str) -> Step:
    task = lock_task(step.task_id)
    reason = sealing.task_scrubber(task).text(reason)
    current = Step.objects.select_related("template").get(pk=step.pk)
    if current.status != StepStatus.FAILED:
        raise IllegalTransition(
            f"step '{current.name}' is {current.status}; "
            "only a failed step can be retried"
        )
    if task.status == TaskStatus.FAILED:
        task_transition(
            task_id=task.pk,
            from_status=TaskStatus.FAILED,
            to_status=TaskStatus.IN_PROGRESS,
            actor=actor,
            reason=f"step '{current.name}' retried",
            updates={"completed_at": None},
        )
    elif task.status != TaskStatus.IN_PROGRESS:
        raise IllegalTransition(
            f"task {task.pk} is {task.status}; its steps cannot be retried"
        )
    if not step_transition(
        step_id=current.pk,
        from_status=StepStatus.FAILED,
        to_status=StepStatus.ENQUEUED,
        actor=actor,
        reason=reason or "manual retry",
        updates={
            "max_attempts": current.attempts + current.template.retry_limit,
            "enqueued_at": Now(),
            "next_attempt_at": None,
            "completed_at": None,
            # A retried approval step asks again: the old decision is history
            # (kept in its transition rows and the audit trail).
            "decision": "",
            "decided_by": None,
            "decided_at": None,
            "decision_comment": "",
        },
        step_name=current.name,
    ):
        raise ConcurrentChange(
            f"step '{current.name}' changed while retrying; try again"
        )
    audit_record(
        actor=actor,
        action="step.retried",
        object_type="step",
        object_id=current.pk,
        namespace=task.namespace,
        reason=reason,
        metadata={"task": str(task.pk), "step": current.name},
    )
    dispatch.publish_on_commit(
        current.pk,
        namespace_slug=task.namespace.slug,
        timeout_seconds=current.template.timeout_seconds,
    )
    current.refresh_from_db()
    return current


def step_resolve(*, step: Step, actor: Actor, results: Any, reason: str = "") -> Step:
    """Mark a pending or failed step resolved with supplied ``results``.

    The step then satisfies its dependents exactly as if its handler had
    returned ``results``; the task moves on (a failed task resumes).
    Refused while an approval step it depends on is not complete
    (:mod:`workflows.services.duties`).
    """
    if not isinstance(results, dict):
        raise TaskerError(
            "results must be a JSON object",
            code="invalid_results",
            fields={"results": ["Expected an object."]},
        )
    ensure_storable({"results": results, "reason": reason})
    _authorize_step(step, actor, Action.RESOLVE)
    require_approvals_decided(step=step, actor=actor, verb="resolve")
    return _step_resolve(step=step, actor=actor, results=results, reason=reason)


@transaction.atomic
def _step_resolve(*, step: Step, actor: Actor, results: Any, reason: str) -> Step:
    task = lock_task(step.task_id)
    # Stored like a handler's results: sealed under the task's key, the
    # reason with the task's personal values (these results' too) masked.
    reason = sealing.task_scrubber(task, results).text(reason)
    results = sealing.seal_for_task(task, results)
    current = Step.objects.select_related("template").get(pk=step.pk)
    if current.template.kind == StepKind.APPROVAL:
        # Resolving would let an operator — even the initiator — stand in
        # for the approver, or overturn a rejection: four eyes forbid it.
        raise IllegalTransition(
            f"step '{current.name}' is an approval step: an approver decides it "
            "(retry it to ask again), it cannot be resolved manually"
        )
    if not step_can_move(current.status, StepStatus.RESOLVED_MANUALLY):
        raise IllegalTransition(
            f"step '{current.name}' is {current.status}; only a pending or failed "
            "step can be resolved manually"
        )
    if task.status in (TaskStatus.CANCELLED, TaskStatus.COMPLETE):
        raise IllegalTransition(f"task {task.pk} is {task.status}; nothing to resolve")
    if task.status == TaskStatus.FAILED:
        task_transition(
            task_id=task.pk,
            from_status=TaskStatus.FAILED,
            to_status=TaskStatus.IN_PROGRESS,
            actor=actor,
            reason=f"step '{current.name}' resolved manually",
            updates={"completed_at": None},
        )
        task.status = TaskStatus.IN_PROGRESS
    if not step_transition(
        step_id=current.pk,
        from_status=current.status,
        to_status=StepStatus.RESOLVED_MANUALLY,
        actor=actor,
        reason=reason or "resolved manually",
        metadata={"results": results},
        updates={"results": results, "completed_at": Now()},
        step_name=current.name,
    ):
        raise ConcurrentChange(
            f"step '{current.name}' changed while resolving; try again"
        )
    audit_record(
        actor=actor,
        action="step.resolved",
        object_type="step",
        object_id=current.pk,
        namespace=task.namespace,
        reason=reason,
        metadata={"task": str(task.pk), "step": current.name, "results": results},
    )
    enqueue_ready_children(task=task, step_id=current.pk, actor=actor)
    finalize_task(task=task, actor=actor)
    current.refresh_from_db()
    return current
