"""Shared pieces of the hand-written task and step bodies.

Task and step bodies are rendered by hand rather than field by field:
DRF deep-copies every declared field for every serializer instance, which
made a 50-task list page cost ~50 ms of CPU. The declared fields still
define the OpenAPI schema, and tests/api/test_representation.py checks the
hand-written bodies against DRF's field-by-field rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from rest_framework import serializers

from audit.access import note_viewed
from audit.pii import Redactor, context_redactor, task_redactor
from workflows.models import Task


def _redactor(
    context: Mapping[str, Any], task: Task, *, steps: bool = True
) -> Redactor:
    """Return the caller's redactor of ``task``, built once per task and request.

    ``context["pii_namespace_ids"]`` holds the namespaces where the caller
    holds ``pii_viewer`` (or all of them, for a superuser). With ``steps``
    the redactor also knows the personal values of the task's steps (read
    from the prefetched steps, or in one query); a list page, which shows
    no step data, makes do with the context's.
    """
    # ``Serializer.context`` is the dict the view passed (or a fresh ``{}``);
    # the stubs type it as a read-only Mapping.
    cache = cast("dict[str, Any]", context).setdefault("_redactors", {})
    held = cache.get((task.pk, True))
    if held is None and not steps:
        held = cache.get((task.pk, False))
    if held is None:
        reveal = task.namespace_id in context.get("pii_namespace_ids", ())
        if not steps:
            held = context_redactor(task, reveal=reveal)
        else:
            prefetched = getattr(task, "_prefetched_objects_cache", {}).get("steps")
            held = task_redactor(task, reveal=reveal, steps=prefetched)
        cache[(task.pk, steps)] = held
        if reveal and task.data_key_id is not None:
            note_viewed(
                context.get("request"),
                namespace_id=task.namespace_id,
                object_type="task",
                object_id=task.pk,
            )
    return held


_DATETIME = serializers.DateTimeField()


def _datetime(value: Any) -> str | None:
    """Render a datetime exactly as the declared ``DateTimeField`` does."""
    return _DATETIME.to_representation(value) if value else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _strings(values: Any) -> list[str | None]:
    return [None if v is None else str(v) for v in values]
