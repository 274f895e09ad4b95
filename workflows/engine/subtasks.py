"""Subworkflow steps: start a child task in another namespace and wait for it.

The step moves ``in_progress → waiting_for_subtask`` and the child task is
created in the same transaction, with an idempotency key derived from the
step, so a retried step finds its existing child instead of starting a
second one. When the child ends, the engine settles the parent step from
the child's outcome (locks: the child's task row, then the parent's).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.functions import Now

from tasker_project.core.actors import Actor
from workflows.engine.progress import enqueue_ready_children, finalize_task, lock_task
from workflows.engine.states import StepStatus, TaskStatus
from workflows.engine.transitions import step_transition
from workflows.handlers import PermanentError, StartSubtask
from workflows.models import Step, Task

logger = logging.getLogger(__name__)

SUBWORKFLOW = Actor.system_actor("subworkflow")
ENDED = (TaskStatus.COMPLETE, TaskStatus.FAILED, TaskStatus.CANCELLED)


def begin_subtask(*, step: Step, attempt: int, request: StartSubtask) -> str:
    """Start (or find) the child task and park the step until it ends."""
    from namespaces.models import Namespace
    from namespaces.services import grant_exists
    from tasker_project.core.errors import TaskerError
    from workflows.services.tasks import task_start

    parent = step.task
    source = parent.namespace
    target = Namespace.objects.filter(slug=request.namespace).first()
    label = f"{request.namespace}.{request.workflow}"
    if target is None:
        raise PermanentError(
            f"subworkflow {label}: namespace {request.namespace!r} does not exist",
            code="unknown_namespace",
        )
    if target.pk != source.pk and not grant_exists(
        source=source, target=target, workflow=request.workflow
    ):
        raise PermanentError(
            f"namespace {source.slug} has no grant to start {label}; a "
            f"{target.slug} maintainer must grant it",
            code="missing_grant",
        )
    try:
        with transaction.atomic():
            moved = step_transition(
                step_id=step.pk,
                from_status=StepStatus.IN_PROGRESS,
                to_status=StepStatus.WAITING_FOR_SUBTASK,
                actor=SUBWORKFLOW,
                attempt=attempt,
                reason=f"waiting for {label}",
                updates={
                    "lease_expires_at": None,
                    "approval_request": {
                        "subtask": label,
                        "version": request.version,
                        "outputs": dict(request.outputs),
                    },
                },
                step_name=step.name,
            )
            if not moved:
                return "fenced"
            child = task_start(
                namespace=target,
                workflow=request.workflow,
                version=request.version,
                context=dict(request.context),
                actor=SUBWORKFLOW,
                idempotency_key=f"subtask:{step.pk}",
                reason=f"started by step '{step.name}' of {parent.definition}",
                source_system=source.slug,
                correlation_id=parent.correlation_id,
                parent_step=step,
                initiator=parent.initiator,
            )
    except TaskerError as exc:
        detail = "".join(
            f"; {path}: {', '.join(msgs)}" for path, msgs in exc.fields.items()
        )
        raise PermanentError(
            f"cannot start subworkflow {label}: {exc.message}{detail}"[:2000],
            code=exc.code,
        ) from exc
    # A retried step may have found a child that already ended, or the child
    # may end between its own finalize and this commit: settle now (a no-op
    # unless the step is still waiting). The sweeper covers a crash here.
    child.refresh_from_db(fields=["status"])
    if child.status in ENDED:
        settle_parent_step(child=Task.objects.get(pk=child.pk))
    return "waiting_for_subtask"


def existing_child(step_id: Any) -> Task | None:
    """Return the child task a subworkflow step already started, if any.

    A step starts at most one child (``subtask:<step id>``), so the child is
    found by its parent step, never by recomputing its input: a retry after
    the child ran sees external data the child itself changed (a refund
    lowers the refundable amount), and would otherwise ask for a different
    child.
    """
    return (
        Task.objects.select_related("namespace", "definition")
        .filter(parent_step_id=step_id)
        .order_by("created_at")
        .first()
    )


def rejoin_subtask(*, step: Step, attempt: int, child: Task) -> str:
    """Park a retried subworkflow step on the child it started before.

    The handler is not run again: the child is the step's work, whatever
    the other systems say now. If the child already ended, the step is
    settled from it at once (a child still failed fails the step again,
    naming the child, for its team to retry or resolve).
    """
    label = f"{child.namespace.slug}.{child.definition.name}"
    moved = step_transition(
        step_id=step.pk,
        from_status=StepStatus.IN_PROGRESS,
        to_status=StepStatus.WAITING_FOR_SUBTASK,
        actor=SUBWORKFLOW,
        attempt=attempt,
        reason=f"waiting for {label} (child task {child.pk}, started earlier)",
        updates={"lease_expires_at": None},
        step_name=step.name,
    )
    if not moved:
        return "fenced"
    child.refresh_from_db(fields=["status"])
    if child.status in ENDED:
        settle_parent_step(child=child)
    return "waiting_for_subtask"


def _child_results(child: Task) -> dict[str, Any]:
    return dict(child.steps.values_list("name", "results"))


def _outputs(child_results: dict[str, Any], outputs: dict[str, str]) -> dict[str, Any]:
    """Copy ``"<step>.<key>"`` paths from the child's results to the top level."""
    copied: dict[str, Any] = {}
    for name, path in outputs.items():
        step_name, _, key = path.partition(".")
        value: Any = child_results.get(step_name) or {}
        for part in key.split(".") if key else []:
            value = value.get(part) if isinstance(value, dict) else None
        copied[name] = value
    return copied


def settle_parent_step(*, child: Task) -> str | None:
    """Complete or fail the step waiting for ``child``; move its task on.

    A no-op when the parent step is no longer waiting (cancelled, or failed
    earlier and not yet retried).
    """
    if not child.parent_step_id:
        return None
    parent_step = Step.objects.select_related("task").get(pk=child.parent_step_id)
    if parent_step.status != StepStatus.WAITING_FOR_SUBTASK:
        return None
    with transaction.atomic():
        parent_task = lock_task(parent_step.task_id)
        child_results = _child_results(child)
        request = parent_step.approval_request or {}
        if child.status == TaskStatus.COMPLETE:
            results = {
                "child_task_id": str(child.pk),
                "child_workflow": str(child.definition),
                "child_status": child.status,
                **_outputs(child_results, request.get("outputs") or {}),
            }
            moved = step_transition(
                step_id=parent_step.pk,
                from_status=StepStatus.WAITING_FOR_SUBTASK,
                to_status=StepStatus.COMPLETE,
                actor=SUBWORKFLOW,
                record_attempt=parent_step.attempts,
                reason=f"child task {child.pk} complete",
                updates={"results": results, "error": None, "completed_at": Now()},
                step_name=parent_step.name,
            )
            if moved:
                enqueue_ready_children(
                    task=parent_task, step_id=parent_step.pk, actor=SUBWORKFLOW
                )
        else:
            failed = (
                child.steps.filter(status=StepStatus.FAILED)
                .values("name", "error")
                .first()
            )
            # Only the failing step's name and error code cross into the
            # calling team; the other team's messages stay in its namespace.
            cause = ""
            if failed:
                code = (failed["error"] or {}).get("code", "error")
                cause = f" at step '{failed['name']}' ({code})"
            error = {
                "class": "workflows.engine.subtasks.SubtaskFailed",
                "code": f"subtask_{child.status}",
                "message": f"child task {child.pk} ({child.definition}) "
                f"{child.status}{cause}"[:2000],
                "attempt": parent_step.attempts,
                "child_task_id": str(child.pk),
            }
            moved = step_transition(
                step_id=parent_step.pk,
                from_status=StepStatus.WAITING_FOR_SUBTASK,
                to_status=StepStatus.FAILED,
                actor=SUBWORKFLOW,
                record_attempt=parent_step.attempts,
                reason=error["message"][:500],
                updates={"error": error, "completed_at": Now()},
                step_name=parent_step.name,
            )
        if moved:
            finalize_task(task=parent_task, actor=SUBWORKFLOW)
            return "settled"
    return None
