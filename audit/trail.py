"""Write business audit events; callers run inside their own transaction."""

from typing import Any

from audit.models import AuditEvent
from tasker_project.core.actors import Actor


def audit_record(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any,
    namespace: Any = None,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event for ``action`` by ``actor``."""
    event = _event(actor, action, object_type, object_id, namespace, reason, metadata)
    event.save(force_insert=True)
    return event


def _event(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any,
    namespace: Any,
    reason: str,
    metadata: dict[str, Any] | None,
) -> AuditEvent:
    return AuditEvent(
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        namespace=namespace,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason or "",
        metadata=metadata or {},
    )


def audit_record_many(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    namespace: Any,
    events: list[tuple[Any, str, dict[str, Any]]],
) -> list[AuditEvent]:
    """Append one ``action`` event per ``(object_id, reason, metadata)`` at once."""
    return AuditEvent.objects.bulk_create(
        _event(actor, action, object_type, object_id, namespace, reason, metadata)
        for object_id, reason, metadata in events
    )
