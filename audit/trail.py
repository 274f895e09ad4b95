"""Write business audit events; callers run inside their own transaction.

Each event names its actor (a user, or a system label such as
``system:worker``) and takes the correlation id, the client address and,
for a system actor, on whose behalf it acts from
:mod:`tasker_project.core.context` (bound by the request middleware and the
executor). Explicit keyword arguments override the context.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from audit import chain
from audit.models import AuditEvent
from tasker_project.core import context
from tasker_project.core.actors import Actor

_CONTEXT = object()


def audit_record(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any,
    namespace: Any = None,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
    correlation_id: Any = _CONTEXT,
    remote_addr: Any = _CONTEXT,
    initiator_label: Any = _CONTEXT,
) -> AuditEvent:
    """Append one audit event for ``action`` by ``actor``."""
    event = _event(
        actor,
        action,
        object_type,
        object_id,
        namespace,
        reason,
        metadata,
        _where(correlation_id, remote_addr, initiator_label),
    )
    chain.append([event])  # hash-chained under the chain's lock
    return event


def _where(correlation_id: Any, remote_addr: Any, initiator_label: Any) -> dict:
    """Return the event's context columns: the arguments given, else the context."""
    return {
        "correlation_id": (
            context.correlation_id() if correlation_id is _CONTEXT else correlation_id
        )
        or "",
        "remote_addr": (
            context.remote_addr() if remote_addr is _CONTEXT else remote_addr
        )
        or None,
        "initiator_label": (
            context.initiator_label()
            if initiator_label is _CONTEXT
            else initiator_label
        )
        or "",
    }


def _event(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any,
    namespace: Any,
    reason: str,
    metadata: dict[str, Any] | None,
    where: dict[str, Any],
) -> AuditEvent:
    # A person acting for themselves acts on nobody's behalf.
    on_behalf = where["initiator_label"] if actor.user is None else ""
    return AuditEvent(
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        namespace=namespace,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason or "",
        metadata=metadata or {},
        correlation_id=str(where["correlation_id"])[: context.MAX_CORRELATION_ID],
        remote_addr=where["remote_addr"],
        initiator_label=str(on_behalf)[:150],
    )


def audit_record_many(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    namespace: Any,
    events: Iterable[tuple[Any, str, dict[str, Any]]],
    where: Iterable[dict[str, Any]] | None = None,
) -> list[AuditEvent]:
    """Append one ``action`` event per ``(object_id, reason, metadata)`` at once.

    ``where``, if given, holds one dict per event overriding its context
    columns (``correlation_id``, ``remote_addr``, ``initiator_label``): a
    bulk start names each task's own correlation id and initiator.
    """
    events = list(events)
    overrides = list(where) if where is not None else [{} for _ in events]
    if len(overrides) != len(events):
        raise ValueError("audit_record_many: one 'where' per event")
    return chain.append(
        [  # hash-chained in order under one lock
            _event(
                actor,
                action,
                object_type,
                object_id,
                namespace,
                reason,
                metadata,
                _where(
                    over.get("correlation_id", _CONTEXT),
                    over.get("remote_addr", _CONTEXT),
                    over.get("initiator_label", _CONTEXT),
                ),
            )
            for (object_id, reason, metadata), over in zip(
                events, overrides, strict=True
            )
        ]
    )
