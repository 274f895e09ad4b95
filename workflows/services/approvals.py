"""Human decisions on approval steps: approve or reject, four eyes.

The approver needs the ``approver`` role in the task's namespace, read from
the database on every call, and must not be the person who started the
task. The decision, its author and comment are stored on the step, in its
transition row and in the audit trail, in one transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from audit.trail import audit_record
from namespaces.models import Namespace
from namespaces.permissions import authorize
from namespaces.roles import Action
from tasker_project.core.actors import Actor
from tasker_project.core.errors import (
    ConcurrentChange,
    IllegalTransition,
    PermissionDenied,
    TaskerError,
)
from workflows.engine import sealing
from workflows.engine.progress import enqueue_ready_children, finalize_task, lock_task
from workflows.engine.states import StepStatus
from workflows.engine.transitions import step_transition
from workflows.models import Step, Task


def _checked(step: Step, actor: Actor, comment: str, verb: str) -> Task:
    """Authorize the decision and enforce four eyes; return the step's task."""
    task = Task.objects.select_related("namespace").get(pk=step.task_id)
    authorize(
        actor=actor,
        namespace=task.namespace,
        action=Action.APPROVE,
        target=f"step {step.pk}",
    )
    if not isinstance(comment, str) or not comment.strip():
        raise TaskerError(
            f"a comment is required to {verb}",
            code="comment_required",
            fields={"comment": ["This field is required."]},
        )
    if actor.user is not None and task.initiator_id == actor.user.pk:
        audit_record(
            actor=actor,
            action="permission.denied",
            object_type="step",
            object_id=step.pk,
            namespace=task.namespace,
            reason="four-eyes: the initiator cannot decide their own request",
            metadata={"action": verb, "task": str(task.pk)},
        )
        raise PermissionDenied(
            f"{actor.label} started this task and cannot {verb} it; "
            "another approver must decide (four-eyes rule)",
            code="four_eyes",
        )
    return task


def step_approve(*, step: Step, actor: Actor, comment: str) -> Step:
    """Approve a waiting approval step; the task carries on."""
    _checked(step, actor, comment, "approve")
    return _decide(step=step, actor=actor, comment=comment.strip(), approved=True)


def step_reject(*, step: Step, actor: Actor, comment: str) -> Step:
    """Reject a waiting approval step; it fails, and with it the task."""
    _checked(step, actor, comment, "reject")
    return _decide(step=step, actor=actor, comment=comment.strip(), approved=False)


@transaction.atomic
def _decide(*, step: Step, actor: Actor, comment: str, approved: bool) -> Step:
    task = lock_task(step.task_id)
    # The comment is prose: stored (step, transition, audit) with the
    # task's personal values masked.
    comment = sealing.task_scrubber(task).text(comment)
    current = Step.objects.get(pk=step.pk)
    if current.status != StepStatus.WAITING_FOR_APPROVAL:
        raise IllegalTransition(
            f"step '{current.name}' is {current.status}; only a step waiting for "
            "approval can be approved or rejected"
        )
    decided_at = timezone.now()
    decision = "approved" if approved else "rejected"
    common = {
        "decision": decision,
        "decided_by": actor.user,
        "decided_at": decided_at,
        "decision_comment": comment,
        "completed_at": Now(),
    }
    if approved:
        updates = {
            **common,
            "results": {
                "approved": True,
                "approved_by": actor.label,
                "comment": comment,
                "decided_at": decided_at.isoformat(),
                "request": current.approval_request,
            },
            "error": None,
        }
        target = StepStatus.COMPLETE
    else:
        updates = {
            **common,
            "error": {
                "class": "workflows.services.approvals.Rejected",
                "code": "approval_rejected",
                "message": f"rejected by {actor.label}: {comment}",
                "attempt": current.attempts,
            },
        }
        target = StepStatus.FAILED
    if not step_transition(
        step_id=current.pk,
        from_status=StepStatus.WAITING_FOR_APPROVAL,
        to_status=target,
        actor=actor,
        record_attempt=current.attempts,
        reason=f"{decision}: {comment}"[:500],
        metadata={"decision": decision, "comment": comment},
        updates=updates,
        step_name=current.name,
    ):
        raise ConcurrentChange(f"step '{current.name}' was decided meanwhile")
    audit_record(
        actor=actor,
        action=f"step.{decision}",
        object_type="step",
        object_id=current.pk,
        namespace=Namespace.objects.get(pk=task.namespace_id),
        reason=comment,
        metadata={"task": str(task.pk), "step": current.name},
    )
    if approved:
        enqueue_ready_children(task=task, step_id=current.pk, actor=actor)
    finalize_task(task=task, actor=actor)
    current.refresh_from_db()
    return current
