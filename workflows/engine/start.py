"""Creating a run: a task, its steps and edges, its roots enqueued, in bulk.

The engine owns everything a start writes and checks that is not about who
asks: the definition (its lookup, its deprecation, its cached templates and
compiled schema), the context against that schema, the idempotency key and
the request hash, and the rows. Authorisation stays in
``workflows.services.tasks`` (the people's entry point); a subworkflow step
starts its child through :func:`start_task` directly, as the engine's own
system actor. Every start writes its ``task.started`` audit event in the
transaction that creates the task.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator, FormatChecker

from audit.crypto import TOKEN_PREFIX, is_token
from audit.models import DataKey
from audit.trail import audit_record_many
from namespaces.models import Namespace
from tasker_project.core.actors import Actor
from tasker_project.core.errors import (
    ContextValidationError,
    DefinitionDeprecated,
    DefinitionNotFound,
    IdempotencyConflict,
    TaskerError,
)
from tasker_project.core.json_values import ensure_storable
from workflows.engine import dispatch, sealing
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import (
    Step,
    StepEdge,
    StepTemplate,
    StepTransition,
    Task,
    TaskTransition,
    WorkflowDefinition,
)

# A definition that exists never changes (a changed published version is
# refused by sync), and its uuid is never reused: its templates and its
# compiled schema validator are kept per process.
_definition_cache: dict[Any, tuple[list[StepTemplate], Draft202012Validator]] = {}
_DEFINITION_CACHE_SIZE = 256


def _cached(
    definition: WorkflowDefinition,
) -> tuple[list[StepTemplate], Draft202012Validator]:
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


def definition_lookup(
    *, slug: str, workflow: str, version: str | None
) -> WorkflowDefinition | None:
    """Return the requested or default version with its namespace, or None."""
    queryset = WorkflowDefinition.objects.select_related("namespace").filter(
        namespace__slug=slug, name=workflow
    )
    if version:
        return queryset.filter(version=version).first()
    return queryset.filter(is_default=True).first()


def definition_resolve(
    *, namespace: str | Namespace, workflow: str, version: str | None = None
) -> WorkflowDefinition:
    """Return the requested version, or the default one; raise naming the unknown."""
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


def refuse_deprecated(definition: WorkflowDefinition) -> None:
    """Raise :class:`DefinitionDeprecated` (naming the default) if it is deprecated."""
    if not definition.deprecated:
        return
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


def refuse_invalid_context(definition: WorkflowDefinition, context: Any) -> None:
    """Raise :class:`ContextValidationError` naming every field that does not match."""
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


def refuse_bad_input(
    *,
    context: Any,
    reason: str,
    tags: list[str],
    idempotency_key: str | None,
) -> None:
    """Refuse input no schema could accept: not an object, or not storable."""
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
    token_at = _token_path(context)
    if token_at is not None:
        field = f"context.{token_at}" if token_at else "context"
        raise ContextValidationError(
            f"{field}: a value may not start with {TOKEN_PREFIX!r} (the marker "
            "of an encrypted value)",
            fields={field: [f"May not start with {TOKEN_PREFIX!r}."]},
        )
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise TaskerError(
            "idempotency key must be 1 to 200 characters",
            code="invalid_idempotency_key",
            fields={"idempotency_key": ["Must be 1 to 200 characters."]},
        )


def _token_path(value: Any, path: str = "") -> str | None:
    """Return the dotted path of the first string shaped like a stored token."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return path if is_token(value) else None
    for key, item in items:
        found = _token_path(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def request_hash(payload: dict[str, Any]) -> str:
    """Return the SHA-256 of ``payload`` as canonical JSON (the idempotency check)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def existing_for_key(slug: str, key: str, payload_hash: str) -> Task | None:
    """Return the task ``key`` already started in ``slug``, or None.

    Raises :class:`IdempotencyConflict` when the key was used for another
    payload.
    """
    task = (
        Task.objects.select_related("definition", "namespace")
        .filter(namespace__slug=slug, idempotency_key=key)
        .first()
    )
    if task is None:
        return None
    if task.request_hash != payload_hash:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for task {task.pk} "
            "with a different payload",
            fields={"idempotency_key": ["Already used with a different payload."]},
        )
    task.was_created = False
    return task


def task_row(
    *,
    context: dict[str, Any],
    actor: Actor,
    source_system: str,
    reason: str,
    tags: list[str],
    initiator: Any = None,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
    payload_hash: str = "",
    parent_step: Step | None = None,
) -> dict[str, Any]:
    """Return the Task field values of one start (see :func:`create_tasks`)."""
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
        "request_hash": payload_hash,
        "parent_step": parent_step,
    }


def start_task(
    *,
    definition: WorkflowDefinition,
    actor: Actor,
    row: dict[str, Any],
) -> Task:
    """Validate ``row``'s context and create its task; or return the key's task.

    ``row`` comes from :func:`task_row`. A concurrent start with the same
    idempotency key that won the unique constraint answers with its task.
    """
    refuse_invalid_context(definition, row["context"])
    key = row.get("idempotency_key")
    try:
        with transaction.atomic():
            (task,) = create_tasks(definition=definition, actor=actor, rows=[row])
    except IntegrityError:
        if key is None:
            raise
        existing = existing_for_key(definition.namespace.slug, key, row["request_hash"])
        if existing is None:
            raise
        return existing
    task.was_created = True
    return task


def create_tasks(
    *, definition: WorkflowDefinition, actor: Actor, rows: list[dict[str, Any]]
) -> list[Task]:
    """Write ``rows`` (Task field values) as started tasks, in bulk.

    Seven INSERTs whatever the number of tasks: the tasks' data keys, tasks,
    steps, edges, the tasks' and the root steps' transitions, and one audit
    event per task. Each context is stored sealed under its task's key
    (:mod:`workflows.engine.sealing`).
    The roots are published after commit. Call inside a transaction.
    """
    templates = _cached(definition)[0]
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
    DataKey.objects.bulk_create(
        sealing.seal_new_tasks(tasks, sealing.definition_keys(definition))
    )
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
        # Each task's own correlation id (a subtask shares its parent's) and,
        # for a system actor, the person on whose behalf it started.
        where=[
            {
                "correlation_id": task.correlation_id,
                "initiator_label": (
                    task.initiator_label if task.initiator_label != actor.label else ""
                ),
            }
            for task in tasks
        ],
    )
    dispatch.publish_steps_on_commit(
        [(step.pk, timeout) for step, timeout in roots],
        namespace_slug=definition.namespace.slug,
    )
    return tasks
