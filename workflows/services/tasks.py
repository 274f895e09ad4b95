"""Use cases that change workflow state: thin over the engine, one per action.

Each service takes the acting party explicitly, opens its own transaction,
writes its audit event in that transaction and publishes wake-ups only
after commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone
from jsonschema import Draft202012Validator, FormatChecker

from audit.services import audit_record, audit_record_many
from namespaces.models import Namespace
from namespaces.permissions import authorize
from namespaces.roles import Action
from tasker_project.core.actors import Actor
from tasker_project.core.errors import (
    ConcurrentChange,
    ContextValidationError,
    DefinitionDeprecated,
    DefinitionNotFound,
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    TaskerError,
)
from tasker_project.core.json_values import ensure_storable
from workflows.engine import dispatch
from workflows.engine.progress import lock_task
from workflows.engine.states import (
    STEP_NON_TERMINAL,
    StepStatus,
    TaskStatus,
)
from workflows.engine.subtasks import settle_parent_step
from workflows.engine.transitions import step_transition, task_transition
from workflows.models import (
    Step,
    StepEdge,
    StepTemplate,
    StepTransition,
    Task,
    TaskTransition,
    WorkflowDefinition,
)

logger = logging.getLogger(__name__)

# The most tasks one task_start_many call starts.
MAX_BATCH = 1000


def definition_resolve(
    *, namespace: str | Namespace, workflow: str, version: str | None = None
) -> WorkflowDefinition:
    """Return the requested version, or the default one; raise if none."""
    slug = namespace.slug if isinstance(namespace, Namespace) else namespace
    queryset = WorkflowDefinition.objects.select_related("namespace").filter(
        namespace__slug=slug, name=workflow
    )
    if version:
        definition = queryset.filter(version=version).first()
        if definition is None:
            known = (
                ", ".join(sorted(queryset.values_list("version", flat=True))) or "none"
            )
            raise DefinitionNotFound(
                f"workflow {slug}.{workflow} has no version {version} (known: {known})",
                fields={"version": [f"unknown version {version!r}"]},
            )
        return definition
    definition = queryset.filter(is_default=True).first()
    if definition is None:
        if not Namespace.objects.filter(slug=slug).exists():
            raise DefinitionNotFound(
                f"namespace {slug!r} not found",
                fields={"namespace": [f"unknown namespace {slug!r}"]},
            )
        if not queryset.exists():
            raise DefinitionNotFound(
                f"namespace {slug} has no workflow {workflow!r}",
                fields={"workflow": [f"unknown workflow {workflow!r}"]},
            )
        raise DefinitionNotFound(
            f"workflow {slug}.{workflow} has no default version; name one explicitly",
            fields={"version": ["required: this workflow has no default version"]},
        )
    return definition


def context_errors(
    schema: dict[str, Any] | WorkflowDefinition, context: Any
) -> dict[str, list[str]]:
    """Return every JSON Schema violation of ``context``, keyed by field path.

    ``schema`` is a JSON Schema or a definition (whose compiled validator is
    cached). Paths are dotted (``items.0.sku``); ``$`` is the context
    itself. A missing required property is reported at its own path.
    """
    validator = (
        _cached(schema)[1]
        if isinstance(schema, WorkflowDefinition)
        else Draft202012Validator(schema, format_checker=FormatChecker())
    )
    fields: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(context), key=lambda e: list(e.path)):
        base = [str(p) for p in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [p for p in error.validator_value if p not in error.instance]
            for prop in missing:
                key = ".".join([*base, prop])
                fields.setdefault(key, [])
                if "This field is required." not in fields[key]:
                    fields[key].append("This field is required.")
            continue
        fields.setdefault(".".join(base) or "$", []).append(error.message)
    return fields


def _request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _definition_lookup(
    *, slug: str, workflow: str, version: str | None
) -> WorkflowDefinition | None:
    """Return the requested or default version with its namespace, or None."""
    queryset = WorkflowDefinition.objects.select_related("namespace").filter(
        namespace__slug=slug, name=workflow
    )
    if version:
        return queryset.filter(version=version).first()
    return queryset.filter(is_default=True).first()


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
    # permission check, exactly as before.
    definition = _definition_lookup(slug=slug, workflow=workflow, version=version)
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
    idempotency_key, request_hash = idempotency
    if idempotency_key is not None:
        existing = _existing_for_key(slug, idempotency_key, request_hash)
        if existing is not None:
            return existing

    if definition is None:
        definition = definition_resolve(
            namespace=slug, workflow=workflow, version=version
        )
    if definition.deprecated:
        default = (
            WorkflowDefinition.objects.filter(
                namespace=definition.namespace, name=definition.name, is_default=True
            )
            .values_list("version", flat=True)
            .first()
        )
        hint = f"; start the default version {default}" if default else ""
        raise DefinitionDeprecated(
            f"workflow {definition} is deprecated and refuses new starts{hint}",
            fields={"version": [f"version {definition.version} is deprecated{hint}"]},
        )
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
    parent_step: Step | None = None,
    initiator: Any = None,
) -> Task:
    """Start one task: validate, create its steps, enqueue its roots.

    With ``idempotency_key``, the same key and payload return the task the
    first call created (``task.was_created`` is False); the same key with
    another payload raises :class:`IdempotencyConflict`. Nothing is written
    when anything is refused. ``initiator`` records on whose behalf a system
    actor starts the task (a child task carries its parent's initiator, so
    four eyes hold across teams).
    """
    slug = namespace.slug if isinstance(namespace, Namespace) else namespace
    tags = list(tags or [])
    if not isinstance(context, dict):
        raise ContextValidationError(
            "context must be a JSON object", fields={"context": ["Expected an object."]}
        )
    ensure_storable(
        {
            "context": context,
            "reason": reason,
            "tags": tags,
            "idempotency_key": idempotency_key,
        }
    )
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise TaskerError(
            "idempotency key must be 1 to 200 characters",
            code="invalid_idempotency_key",
            fields={"idempotency_key": ["Must be 1 to 200 characters."]},
        )
    request_hash = _request_hash(
        {
            "namespace": slug,
            "workflow": workflow,
            "version": version,
            "context": context,
            "reason": reason,
            "tags": tags,
            "parent_step": str(parent_step.pk) if parent_step else None,
        }
    )
    definition = _startable_definition(
        slug=slug,
        workflow=workflow,
        version=version,
        actor=actor,
        idempotency=(idempotency_key, request_hash),
    )
    if isinstance(definition, Task):
        return definition  # the task this idempotency key already started
    errors = context_errors(definition, context)
    if errors:
        raise ContextValidationError(
            f"context does not match the schema of {definition}: "
            + "; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in errors.items()),
            fields={
                f"context.{path}" if path != "$" else "context": msgs
                for path, msgs in errors.items()
            },
        )
    try:
        with transaction.atomic():
            (task,) = _create_tasks(
                definition=definition,
                actor=actor,
                rows=[
                    _task_row(
                        context=context,
                        actor=actor,
                        initiator=initiator,
                        source_system=source_system,
                        reason=reason,
                        tags=tags,
                        correlation_id=correlation_id,
                        idempotency_key=idempotency_key,
                        request_hash=request_hash,
                        parent_step=parent_step,
                    )
                ],
            )
    except IntegrityError:
        # A concurrent start with the same key won the unique constraint.
        if idempotency_key is None:
            raise
        existing = _existing_for_key(slug, idempotency_key, request_hash)
        if existing is None:
            raise
        return existing
    task.was_created = True
    return task


def _task_row(
    *,
    context: dict[str, Any],
    actor: Actor,
    source_system: str,
    reason: str,
    tags: list[str],
    initiator: Any = None,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str = "",
    parent_step: Step | None = None,
) -> dict[str, Any]:
    """Return the Task field values of one start (see ``_create_tasks``)."""
    return {
        "context": context,
        "initiator": initiator if initiator is not None else actor.user,
        "initiator_label": (
            initiator.get_username() if initiator is not None else actor.label
        ),
        "source_system": source_system,
        "reason": reason,
        "tags": tags,
        "correlation_id": (
            correlation_id
            or str(context.get("correlation_id") or "")
            or uuid.uuid4().hex
        )[:100],
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "parent_step": parent_step,
    }


def _existing_for_key(slug: str, key: str, request_hash: str) -> Task | None:
    task = (
        Task.objects.select_related("definition", "namespace")
        .filter(namespace__slug=slug, idempotency_key=key)
        .first()
    )
    if task is None:
        return None
    if task.request_hash != request_hash:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for task {task.pk} "
            "with a different payload",
            fields={"idempotency_key": ["Already used with a different payload."]},
        )
    task.was_created = False
    return task


def _create_tasks(
    *, definition: WorkflowDefinition, actor: Actor, rows: list[dict[str, Any]]
) -> list[Task]:
    """Write ``rows`` (Task field values) as started tasks, in bulk.

    Six INSERTs whatever the number of tasks: tasks, steps, edges, the
    tasks' and the root steps' transitions, and one audit event per task.
    The roots are published after commit.
    """
    templates = _templates_of(definition)
    now = timezone.now()
    tasks = [
        Task(
            namespace=definition.namespace,
            definition=definition,
            status=TaskStatus.IN_PROGRESS,
            started_at=now,
            **row,
        )
        for row in rows
    ]
    Task.objects.bulk_create(tasks)
    steps: list[Step] = []
    edges: list[StepEdge] = []
    roots: list[tuple[Step, int]] = []
    for task in tasks:
        by_name: dict[str, Step] = {}
        for t in templates:
            step = Step(
                task=task,
                template=t,
                name=t.name,
                status=StepStatus.ENQUEUED if not t.depends_on else StepStatus.PENDING,
                enqueued_at=None if t.depends_on else now,
                max_attempts=t.retry_limit,
                waiting_on=len(t.depends_on),
            )
            by_name[t.name] = step
            steps.append(step)
            if not t.depends_on:
                roots.append((step, t.timeout_seconds))
        edges.extend(
            StepEdge(task=task, parent=by_name[dep], child=by_name[t.name])
            for t in templates
            for dep in t.depends_on
        )
    Step.objects.bulk_create(steps)
    if edges:
        StepEdge.objects.bulk_create(edges)
    TaskTransition.objects.bulk_create(
        TaskTransition(
            task=task,
            from_status=TaskStatus.PENDING,
            to_status=TaskStatus.IN_PROGRESS,
            actor=actor.user,
            actor_label=actor.label,
            reason="started",
        )
        for task in tasks
    )
    StepTransition.objects.bulk_create(
        StepTransition(
            step=step,
            from_status=StepStatus.PENDING,
            to_status=StepStatus.ENQUEUED,
            actor=actor.user,
            actor_label=actor.label,
            reason="root step",
        )
        for step, _ in roots
    )
    audit_record_many(
        actor=actor,
        action="task.started",
        object_type="task",
        namespace=definition.namespace,
        events=[
            (
                task.pk,
                task.reason,
                {"workflow": str(definition), "correlation_id": task.correlation_id},
            )
            for task in tasks
        ],
    )
    dispatch.publish_steps_on_commit(
        [(step.pk, timeout) for step, timeout in roots],
        namespace_slug=definition.namespace.slug,
    )
    return tasks


# A definition that exists never changes (a changed published version is
# refused by sync), and its uuid is never reused: its templates and its
# compiled schema validator are kept per process.
_definition_cache: dict[Any, tuple[list[StepTemplate], Draft202012Validator]] = {}
_DEFINITION_CACHE_SIZE = 256


def _cached(definition: WorkflowDefinition) -> tuple[list[StepTemplate], Any]:
    entry = _definition_cache.get(definition.uuid)
    if entry is None:
        entry = (
            list(definition.step_templates.all()),
            Draft202012Validator(
                definition.context_schema, format_checker=FormatChecker()
            ),
        )
        if len(_definition_cache) >= _DEFINITION_CACHE_SIZE:
            _definition_cache.clear()
        _definition_cache[definition.uuid] = entry
    return entry


def _templates_of(definition: WorkflowDefinition) -> list[StepTemplate]:
    return _cached(definition)[0]


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
        for path, msgs in context_errors(definition, context).items():
            key = f"contexts.{index}" + (f".{path}" if path != "$" else "")
            fields[key] = msgs
    if fields:
        raise ContextValidationError(
            f"{len(fields)} context field(s) do not match the schema of {definition}: "
            + "; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in fields.items()),
            fields=fields,
        )
    rows = [
        _task_row(
            context=context,
            actor=actor,
            source_system=source_system,
            reason=reason,
            tags=tags,
        )
        for context in contexts
    ]
    with transaction.atomic():
        tasks = _create_tasks(definition=definition, actor=actor, rows=rows)
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
                    actor=Actor.system_actor("subworkflow"),
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
