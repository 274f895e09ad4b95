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

from namespaces.models import Namespace, NamespaceGrant
from tasker_project.core.actors import SUBWORKFLOW
from tasker_project.core.errors import TaskerError
from workflows.engine import start
from workflows.engine.claim_sql import Claim
from workflows.engine.progress import ENDED, settle_parent_step
from workflows.engine.states import StepStatus
from workflows.engine.transitions import step_transition
from workflows.handlers import PermanentError, StartSubtask
from workflows.models import Step, Task

logger = logging.getLogger(__name__)


def begin_subtask(*, step: Claim, attempt: int, request: StartSubtask) -> str:
    """Start (or find) the child task and park the step until it ends.

    The child is started through the engine (:func:`start.start_task`) as
    the ``system:subworkflow`` actor on behalf of the parent's initiator,
    so four eyes hold across teams; a cross-team call needs a
    :class:`NamespaceGrant`.
    """
    source = step.namespace_slug
    label = f"{request.namespace}.{request.workflow}"
    target = Namespace.objects.filter(slug=request.namespace).first()
    if target is None:
        raise PermanentError(
            f"subworkflow {label}: namespace {request.namespace!r} does not exist",
            code="unknown_namespace",
        )
    if target.slug != source and not NamespaceGrant.permits(
        source_slug=source, target=target, workflow=request.workflow
    ):
        raise PermanentError(
            f"namespace {source} has no grant to start {label}; a "
            f"{target.slug} maintainer must grant it",
            code="missing_grant",
        )
    parent = Task.objects.select_related("initiator").get(pk=step.task_id)
    context = dict(request.context)
    key = f"subtask:{step.pk}"
    reason = f"started by step '{step.name}' of {step.namespace_slug}."
    reason += f"{step.workflow}@{step.version}"
    try:
        start.refuse_bad_input(
            context=context, reason=reason, tags=[], idempotency_key=key
        )
        payload_hash = start.request_hash(
            {
                "namespace": target.slug,
                "workflow": request.workflow,
                "version": request.version,
                "context": context,
                "reason": reason,
                "tags": [],
                "parent_step": str(step.pk),
            }
        )
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
            child = start.existing_for_key(target.slug, key, payload_hash)
            if child is None:
                definition = start.definition_resolve(
                    namespace=target, workflow=request.workflow, version=request.version
                )
                start.refuse_deprecated(definition)
                child = start.start_task(
                    definition=definition,
                    actor=SUBWORKFLOW,
                    row=start.task_row(
                        context=context,
                        actor=SUBWORKFLOW,
                        source_system=source,
                        reason=reason,
                        tags=[],
                        correlation_id=step.correlation_id,
                        idempotency_key=key,
                        payload_hash=payload_hash,
                        parent_step=Step(pk=step.pk),
                        initiator=parent.initiator,
                    ),
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


def rejoin_subtask(*, step: Claim, attempt: int, child: Task) -> str:
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
