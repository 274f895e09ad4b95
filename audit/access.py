"""``pii.viewed``: which personal data a response showed unmasked, and to whom.

An edge notes each object it renders with a revealing redactor
(:func:`note_viewed`) and, once the response is built, records one
``pii.viewed`` event per namespace (:func:`record_viewed`): the viewer, the
path and the object ids only, never the values.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.trail import audit_record
from namespaces.models import Namespace
from tasker_project.core.actors import Actor

_NOTES = "_tasker_pii_viewed"
# One event lists at most this many ids (a long export is counted, not listed).
MAX_IDS = 500


def _holder(request: Any) -> dict[str, Any]:
    # A DRF Request wraps the HttpRequest; the notes live on the latter, so the
    # view and its serializers share them.
    return getattr(request, "_request", request).__dict__


def note_viewed(
    request: Any, *, namespace_id: Any, object_type: str, object_id: Any
) -> None:
    """Note that ``request``'s response shows ``object_id`` unmasked."""
    if request is None:
        return
    notes = _holder(request).setdefault(_NOTES, {})
    notes.setdefault((namespace_id, object_type), set()).add(str(object_id))


def record_viewed(request: Any, *, actor: Actor) -> None:
    """Write the ``pii.viewed`` events of ``request`` (once), if it noted any."""
    notes: dict[tuple[Any, str], set[str]] = _holder(request).pop(_NOTES, {})
    if not notes:
        return
    namespaces = Namespace.objects.in_bulk({ns for ns, _ in notes if ns is not None})
    path = getattr(request, "path", "")
    with transaction.atomic():
        for (namespace_id, object_type), ids in sorted(
            notes.items(), key=lambda item: (str(item[0][0]), item[0][1])
        ):
            listed = sorted(ids)
            audit_record(
                actor=actor,
                action="pii.viewed",
                object_type=object_type,
                object_id=listed[0] if len(listed) == 1 else "",
                namespace=namespaces.get(namespace_id),
                metadata={
                    "path": path[:300],
                    "count": len(listed),
                    "ids": listed[:MAX_IDS],
                },
            )
