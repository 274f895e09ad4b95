"""Reads of the audit trail, scoped to what the user may export.

Exporting the trail is for superusers (every event, those of no namespace
too) and for maintainers, who get only their namespaces' events. Anyone
else is refused with :class:`PermissionDenied`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent
from namespaces.permissions import namespace_ids_for
from namespaces.roles import Action
from tasker_project.core.errors import PermissionDenied

# Only maintainers manage team membership: the action names the role.
EXPORT_ACTION = Action.MANAGE_MEMBERS


def audit_export_namespace_ids(*, user: Any) -> set[int] | None:
    """Return the namespaces whose events ``user`` may export; None: all events."""
    if user is not None and user.is_active and user.is_superuser:
        return None
    return namespace_ids_for(user, EXPORT_ACTION)


def may_export_audit(*, user: Any) -> bool:
    """Return whether ``user`` may export any part of the audit trail."""
    ids = audit_export_namespace_ids(user=user)
    return ids is None or bool(ids)


def audit_export_list(
    *,
    user: Any,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Return the events ``user`` may export, filtered, oldest first.

    ``actor`` is an actor label (a username or ``system:…``); ``since`` is
    inclusive and ``until`` exclusive.
    """
    ids = audit_export_namespace_ids(user=user)
    if ids is not None and not ids:
        raise PermissionDenied(
            "exporting the audit trail needs the maintainer role (or superuser)"
        )
    queryset = AuditEvent.objects.select_related("namespace")
    if ids is not None:
        queryset = queryset.filter(namespace_id__in=sorted(ids))
    if actor:
        queryset = queryset.filter(actor_label=actor)
    if action:
        queryset = queryset.filter(action=action)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lt=until)
    return queryset.order_by("created_at", "id")
