"""Use cases that change workflow state: thin over the engine, one per action.

Each service takes the acting party explicitly, opens its own transaction,
writes its audit event in that transaction and publishes wake-ups only
after commit.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.db import transaction
from django.db.models.functions import Now

from audit.trail import audit_record
from namespaces.models import Namespace
from namespaces.permissions import authorize
from namespaces.roles import Action
from tasker_project.core.actors import SUBWORKFLOW, Actor
from tasker_project.core.errors import (
    ConcurrentChange,
    ContextValidationError,
    IllegalTransition,
    NotFound,
    TaskerError,
)
from workflows.engine import sealing, start
from workflows.engine.progress import lock_task, settle_parent_step
from workflows.engine.states import (
    STEP_NON_TERMINAL,
    StepStatus,
    TaskStatus,
)
from workflows.engine.transitions import step_transition, task_transition
from workflows.models import (
    Step,
    Task,
    WorkflowDefinition,
)

logger = logging.getLogger(__name__)

# The most tasks one task_start_many call starts.
MAX_BATCH = 1000


def _startable_definition(
    *,
    slug: str,
    workflow: str,
    version: str | None,
    actor: Actor,
    idempotency: tuple[str | None, str] = (None, ""),
) -> WorkflowDefinition | Task:
    """Check the actor may start in ``slug``; return the definition to start.

    With an idempotency key already used for the same payload, return that
    task instead.
    """
    # A namespace that does not exist and one the caller cannot see answer
    # alike, so the answer does not reveal which namespaces exist.
    unknown = NotFound(
        f"namespace {slug!r} not found",
        fields={"namespace": [f"Unknown namespace {slug!r}."]},
    )
    # The common case in one query: the definition with its namespace. Any
    # miss takes the path that tells which part is unknown, after the
    # permission check.
    definition = start.definition_lookup(slug=slug, workflow=workflow, version=version)
    target_namespace = (
        definition.namespace
        if definition is not None
        else Namespace.objects.filter(slug=slug).first()
    )
    if target_namespace is None:
        raise unknown
    try:
        authorize(
            actor=actor,
            namespace=target_namespace,
            action=Action.START,
            target=f"namespace {slug!r}",
        )
    except NotFound:
        raise unknown from None
    idempotency_key, payload_hash = idempotency
    if idempotency_key is not None:
        existing = start.existing_for_key(slug, idempotency_key, payload_hash)
        if existing is not None:
            return existing
    if definition is None:
        definition = start.definition_resolve(
            namespace=slug, workflow=workflow, version=version
        )
    start.refuse_deprecated(definition)
    return definition


def task_start(
    *,
    namespace: str | Namespace,
    workflow: str,
    context: Any,
    actor: Actor,
    version: str | None = None,
    idempotency_key: str | None = None,
    reason: str = "",
    tags: list[str] | None = None,
    source_system: str = "",
    correlation_id: str | None = None,
) -> Task:
    """Start one task: authorise, validate, create its steps, enqueue its roots.

    With ``idempotency_key``, the same key and payload return the task the
    first call created (``task.was_created`` is False); the same key with
    another payload raises :class:`IdempotencyConflict`. Nothing is written
    when anything is refused. The engine writes the rows and the
    ``task.started`` audit event (:mod:`workflows.engine.start`).
    """
    slug = namespace.slug if isinstance(namespace, Namespace) else namespace
    tags = list(tags or [])
    start.refuse_bad_input(
        context=context, reason=reason, tags=tags, idempotency_key=idempotency_key
    )
    payload_hash = start.request_hash(
        {
            "namespace": slug,
            "workflow": workflow,
            "version": version,
            "context": context,
            "reason": reason,
            "tags": tags,
            "parent_step": None,
        }
    )
    definition = _startable_definition(
        slug=slug,
        workflow=workflow,
        version=version,
        actor=actor,
        idempotency=(idempotency_key, payload_hash),
    )
    if isinstance(definition, Task):
        return definition  # the task this idempotency key already started
    return start.start_task(
        definition=definition,
        actor=actor,
        row=start.task_row(
            context=context,
            actor=actor,
            source_system=source_system,
            reason=reason,
            tags=tags,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
            payload_hash=payload_hash,
        ),
    )


def task_start_many(
    *,
    namespace: str | Namespace,
    workflow: str,
    contexts: list[Any],
    actor: Actor,
    version: str | None = None,
    reason: str = "",
    tags: list[str] | None = None,
    source_system: str = "",
) -> list[Task]:
    """Start one task per context of one workflow, all or none, in one transaction.

    For bulk loads (an import, a backfill): the same checks as
    :func:`task_start` — the caller's start permission, the version, every
    context against the schema (errors name ``contexts.<i>.<field>``) — and
    nothing is written if any context is refused. At most
    ``MAX_BATCH`` contexts; no idempotency keys.
    """
    slug = namespace.slug if isinstance(namespace, Namespace) else namespace
    tags = list(tags or [])
    if not isinstance(contexts, list) or not contexts:
        raise ContextValidationError(
            "contexts must be a non-empty list",
            fields={"contexts": ["Expected a non-empty list of objects."]},
        )
    if len(contexts) > MAX_BATCH:
        raise TaskerError(
            f"at most {MAX_BATCH} tasks per batch, got {len(contexts)}",
            code="batch_too_large",
            fields={"contexts": [f"At most {MAX_BATCH} items."]},
        )
    # Without an idempotency key the answer is always a definition.
    definition = cast(
        WorkflowDefinition,
        _startable_definition(
            slug=slug, workflow=workflow, version=version, actor=actor
        ),
    )
    fields: dict[str, list[str]] = {}
    for index, context in enumerate(contexts):
        if not isinstance(context, dict):
            fields[f"contexts.{index}"] = ["Expected an object."]
            continue
        for path, msgs in start.context_errors(definition, context).items():
            key = f"contexts.{index}" + (f".{path}" if path != "$" else "")
            fields[key] = msgs
    if fields:
        raise ContextValidationError(
            f"{len(fields)} context field(s) do not match the schema of {definition}: "
            + "; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in fields.items()),
            fields=fields,
        )
    rows = [
        start.task_row(
            context=context,
            actor=actor,
            source_system=source_system,
            reason=reason,
            tags=tags,
        )
        for context in contexts
    ]
    with transaction.atomic():
        tasks = start.create_tasks(definition=definition, actor=actor, rows=rows)
    for task in tasks:
        task.was_created = True
    return tasks


def task_cancel(*, task: Task, actor: Actor, reason: str = "") -> Task:
    """Cancel a task and every step not yet finished, then its child tasks.

    A handler already running keeps running, but its result is fenced out:
    the step is no longer ``in_progress`` when it reports. Child tasks of
    the cancelled subworkflow steps are cancelled after this commits (each
    in its own transaction, so locks are always taken child-after-parent
    only by the engine).
    """
    namespace = Namespace.objects.get(pk=task.namespace_id)
    authorize(
        actor=actor, namespace=namespace, action=Action.CANCEL, target=f"task {task.pk}"
    )
    cancelled = _task_cancel(task=task, actor=actor, reason=reason)
    _cancel_descendants(cancelled)
    return cancelled


def _cancel_descendants(root: Task) -> None:
    """Cancel every unfinished task below ``root``, one transaction each.

    Breadth-first over child tasks (and theirs). A child that finished or
    changed meanwhile is skipped; an unexpected error on one child is logged
    and does not stop the others.
    """
    unfinished = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.FAILED)
    frontier = [root.pk]
    while frontier:
        children = list(
            Task.objects.filter(parent_step__task_id__in=frontier).values_list(
                "pk", "status"
            )
        )
        frontier = [pk for pk, _ in children]
        for child_id, status in children:
            if status not in unfinished:
                continue
            try:
                _task_cancel(
                    task=Task(pk=child_id),
                    actor=SUBWORKFLOW,
                    reason=f"ancestor task {root.pk} cancelled",
                )
            except (IllegalTransition, ConcurrentChange):
                continue  # it finished meanwhile; nothing to cancel
            except Exception:
                logger.exception(
                    "cancelling child task %s of %s failed", child_id, root.pk
                )


@transaction.atomic
def _task_cancel(*, task: Task, actor: Actor, reason: str) -> Task:
    locked = lock_task(task.pk)
    reason = sealing.task_scrubber(locked).text(reason)
    if locked.status not in (
        TaskStatus.PENDING,
        TaskStatus.IN_PROGRESS,
        TaskStatus.FAILED,
    ):
        raise IllegalTransition(
            f"task {task.pk} is {locked.status} and cannot be cancelled",
        )
    for step_id, name, status in (
        Step.objects.select_for_update()
        .filter(task_id=task.pk, status__in=STEP_NON_TERMINAL - {StepStatus.FAILED})
        .values_list("pk", "name", "status")
    ):
        if not step_transition(
            step_id=step_id,
            from_status=status,
            to_status=StepStatus.CANCELLED,
            actor=actor,
            reason=reason or "task cancelled",
            updates={"lease_expires_at": None, "next_attempt_at": None},
            step_name=name,
        ):
            raise ConcurrentChange(f"step '{name}' changed while cancelling; try again")
    if not task_transition(
        task_id=task.pk,
        from_status=locked.status,
        to_status=TaskStatus.CANCELLED,
        actor=actor,
        reason=reason or "cancelled",
        updates={"completed_at": Now()},
    ):
        raise ConcurrentChange(f"task {task.pk} changed while cancelling; try again")
    audit_record(
        actor=actor,
        action="task.cancelled",
        object_type="task",
        object_id=task.pk,
        namespace=locked.namespace,
        reason=reason,
    )
    locked.refresh_from_db()
    if locked.parent_step_id:
        settle_parent_step(child=locked)
    return locked
