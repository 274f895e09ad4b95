"""Refuse deleting a user whom either audit trail names: deactivate instead.

``AuditEvent.actor`` protects itself (:func:`audit.models.protect_actor`);
django-auditlog's ``LogEntry.actor`` is ``SET_NULL`` in a model we do not
own, so a ``pre_delete`` receiver refuses the deletion before any row goes
(on PostgreSQL the trigger would refuse the ``SET NULL`` anyway, less kindly).
"""

from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.db.models.signals import pre_delete

from audit.models import DEACTIVATE_INSTEAD, ActorInTrailError, AuditEvent


def users_in_trail(user_ids: list[Any]) -> set[Any]:
    """Return which of ``user_ids`` act in an audit event or a log entry."""
    named = set(
        AuditEvent.objects.filter(actor_id__in=user_ids).values_list(
            "actor_id", flat=True
        )
    )
    named |= set(
        LogEntry.objects.filter(actor_id__in=user_ids).values_list(
            "actor_id", flat=True
        )
    )
    return named


def refuse_actor_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Raise ActorInTrailError when ``instance`` appears in the trail."""
    if users_in_trail([instance.pk]):
        raise ActorInTrailError(DEACTIVATE_INSTEAD.format(user=instance))


def connect_signals() -> None:
    """Guard every deletion of a user, by the ORM or the admin."""
    pre_delete.connect(
        refuse_actor_delete, sender=get_user_model(), dispatch_uid="audit.protect"
    )
