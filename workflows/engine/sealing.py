"""Personal data on the engine's paths: sealed when written, opened when read.

- A start gives each task a data key (subject: the e-mail its context names)
  and stores the context with every value under a personal key as a token
  (:mod:`audit.crypto`); the reason is stored with the context's personal
  values masked.
- A claim returns the task's wrapped key with the step (no extra
  statement): :func:`open_claim` opens the context and the parents' results
  before the handler runs, and the executor seals the handler's results,
  approval details and resolved results with the same key before the
  settle. Errors, reasons and comments are stored with the task's known
  personal values (and anything shaped like an e-mail address) masked.
- The personal keys are the definition's (the built-in ones plus the
  schema's ``x-pii`` / ``x-data-classification`` marks), cached per
  definition: a definition never changes.
"""

from __future__ import annotations

from typing import Any

from audit.crypto import ERASED, NO_KEY, Box, box_from_row, new_key
from audit.models import DataKey
from audit.pii import Redactor, definition_pii_keys, pii_values, subject_of, task_box
from tasker_project.core.errors import TaskerError
from workflows.handlers import PermanentError
from workflows.models import Task, WorkflowDefinition

TASK_OWNER = "workflows.task"

_keys_cache: dict[Any, frozenset[str]] = {}
_KEYS_CACHE_SIZE = 1024


def definition_keys(definition: Any) -> frozenset[str]:
    """Return the personal keys of a definition (or its id), cached."""
    definition_id = getattr(definition, "pk", definition)
    keys = _keys_cache.get(definition_id)
    if keys is None:
        if not isinstance(definition, WorkflowDefinition) or (
            "context_schema" in definition.get_deferred_fields()
        ):
            definition = (
                WorkflowDefinition.objects.only("context_schema")
                .filter(pk=definition_id)
                .first()
            )
        keys = definition_pii_keys(definition)
        if len(_keys_cache) >= _KEYS_CACHE_SIZE:
            _keys_cache.clear()
        _keys_cache[definition_id] = keys
    return keys


def seal_new_tasks(tasks: list[Task], keys: frozenset[str]) -> list[DataKey]:
    """Give each new task a data key; seal its context, mask its reason.

    Returns the key rows to insert before the tasks (one bulk INSERT).
    """
    rows = []
    for task in tasks:
        task_keys, inherited = keys, ""
        if task.parent_step_id:
            # A subtask's input came from its parent: what is personal there
            # is personal here, and it is about the parent's subject (GDPR
            # finds the child by the parent's blind index).
            parent = (
                Task.objects.filter(steps__pk=task.parent_step_id)
                .values("definition_id", "data_key__subject_index")
                .first()
            )
            if parent:
                task_keys = keys | definition_keys(parent["definition_id"])
                inherited = parent["data_key__subject_index"] or ""
        row, box = new_key(
            owner_type=TASK_OWNER,
            owner_id=task.pk,
            subject=subject_of(task.context, task_keys),
        )
        if not row.subject_index and inherited:
            row.subject_index = inherited
        values = pii_values([task.context], task_keys)
        if task.reason:
            task.reason = Redactor(keys=task_keys, values=values).text(task.reason)
        task.context = box.seal(task.context, task_keys)
        task.data_key = row
        rows.append(row)
    return rows


def open_claim(claim: Any) -> None:
    """Open the claim's context and parents' results in place, with its key.

    A task whose subject was erased fails the step for good
    (``subject_erased``): its handler would only see ``[erased]``. A token
    that does not open raises :class:`audit.crypto.PIIUnreadable`, which the
    executor records (retryable: a missing master key can be restored).
    """
    box = box_from_row(claim.data_key_id, claim.data_key_wrapped, claim.data_key_master)
    if box is NO_KEY:
        return
    if box.erased:
        # Nothing may run for an erased subject: whatever it wrote could not
        # be sealed under a shredded key, and would stay in clear for good.
        raise PermanentError(
            f"the personal data of task {claim.task_id} was erased; "
            f"step '{claim.name}' cannot run",
            code="subject_erased",
        )
    context = box.open(claim.context)
    dependency_results = (
        box.open(claim.dependency_results) if claim.dependency_results else {}
    )
    # Only once both opened: a failure leaves the claim sealed and boxless,
    # so recording the failure does not try to open the same tokens again.
    claim.context, claim.dependency_results, claim.box = (
        context,
        dependency_results,
        box,
    )


def claim_keys(claim: Any) -> frozenset[str]:
    """Return the personal keys of the claim's definition."""
    return definition_keys(claim.definition_id)


class SubjectErased(TaskerError):
    """Nothing more can be stored for a task whose subject was erased."""

    code = "subject_erased"
    http_status = 409


def _refuse_erased(box: Box, what: Any) -> None:
    if box.erased:
        raise SubjectErased(
            f"the personal data of {what} was erased; nothing more can be stored for it"
        )


def seal_for_claim(claim: Any, value: Any) -> Any:
    """Return ``value`` sealed under the claim's task key (for a settle)."""
    _refuse_erased(claim.box, f"task {claim.task_id}")
    if claim.box.aead is None:
        return value
    return claim.box.seal(value, claim_keys(claim))


def claim_scrubber(claim: Any, *extra: Any) -> Redactor:
    """Return a redactor that masks the claim's known personal values in text."""
    keys = claim_keys(claim)
    sources = [claim.context, claim.dependency_results, *extra]
    if claim.box is not NO_KEY and claim.box.aead is not None:
        sources = [claim.box.open(source) for source in sources]
    return Redactor(keys=keys, values=pii_values(sources, keys))


def task_scrubber(task: Task, *extra: Any) -> Redactor:
    """Return a redactor that masks ``task``'s known personal values in text.

    Reads its steps' results and approval requests (one query): for the
    services, where a person writes a comment or a reason.
    """
    keys = definition_keys(task.definition_id)
    box = task_box(task)
    rows = list(task.steps.values_list("results", "approval_request"))
    sources = [task.context, *[list(row) for row in rows], *extra]
    if box.aead is not None:
        sources = [box.open(source) for source in sources]
    return Redactor(keys=keys, values=pii_values(sources, keys))


def seal_for_task(task: Task, value: Any, *, box: Box | None = None) -> Any:
    """Return ``value`` sealed under ``task``'s key with its definition's keys."""
    box = box if box is not None else task_box(task)
    _refuse_erased(box, f"task {task.pk}")
    if box.aead is None:
        return value
    return box.seal(value, definition_keys(task.definition_id))


def open_for_task(task: Task, value: Any) -> Any:
    """Return ``value`` (stored for ``task``) with its tokens opened."""
    return task_box(task).open(value)


def seal_outputs(
    outputs: dict[str, Any], spec: dict[str, str], *, source: Task, target: Task
) -> dict[str, Any]:
    """Return a subtask's outputs sealed under the parent task's key.

    An output is personal if its name is a personal key of either
    definition, or if its path in the child passes through one (an output
    ``refund_to: notify.customer_email`` stays sealed though ``refund_to``
    is no personal key).
    """
    box = task_box(target)
    if box.erased:
        # The parent's subject was erased while the child ran: its outputs
        # cannot be sealed for it, and are not kept.
        return dict.fromkeys(outputs, ERASED)
    if box.aead is None:
        return outputs
    source_keys = definition_keys(source.definition_id)
    keys = source_keys | definition_keys(target.definition_id)
    keys |= {
        name
        for name, path in spec.items()
        if any(part in source_keys for part in str(path).split("."))
    }
    sealed: dict[str, Any] = box.seal(outputs, frozenset(keys))
    return sealed
