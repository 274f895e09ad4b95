"""Register models with django-auditlog for field diffs; log what it cannot see.

Configuration, every decision (team grants and roles, user accounts and
their groups) and the examples' personal and payment records are tracked.
Personal fields are masked whole (:func:`mask_whole`): the entry says that
a name or an e-mail changed, never what it was. ``Task`` and ``Step`` are
not tracked: they change through raw SQL on the hot path, and their
transition rows are their trail.

``queryset.update()`` and ``bulk_*`` send no signals: code that uses them
on a tracked model calls :func:`log_update` in the same transaction.
The examples register their own models (:func:`register`) from their
``AppConfig.ready()``: the product does not import the examples.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditlog.context import auditlog_disabled
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from namespaces.models import Namespace, NamespaceGrant, TeamRole
from workflows.models import StepTemplate, WorkflowDefinition

MASK = "********"


def mask_whole(value: str) -> str:
    """Hide the whole value (``AUDITLOG_MASK_CALLABLE``); keep only "empty".

    auditlog's default keeps the second half of the value; this keeps
    nothing but whether there was one (``""``, or ``"None"`` for no value).
    """
    return value if value in ("", "None") else MASK


def register(
    model: type[models.Model],
    *,
    mask_fields: Sequence[str] = (),
    exclude_fields: Sequence[str] = (),
    m2m_fields: Sequence[str] = (),
) -> None:
    """Track ``model``, masking ``mask_fields`` whole; once per process."""
    if auditlog.contains(model):
        return
    auditlog.register(
        model,
        mask_fields=list(mask_fields),
        mask_callable="audit.registry.mask_whole",
        exclude_fields=list(exclude_fields),
        m2m_fields=set(m2m_fields),
    )


def register_models() -> None:
    """Track teams, grants, roles, users and workflow definitions."""
    for model in (Namespace, WorkflowDefinition, StepTemplate, NamespaceGrant):
        register(model)
    register(TeamRole)
    # The password hash never, and last_login changes on every login.
    register(
        get_user_model(),
        mask_fields=("email", "first_name", "last_name"),
        exclude_fields=("password", "last_login"),
        m2m_fields=("groups", "user_permissions"),
    )


def log_update(before: models.Model, after: models.Model) -> LogEntry | None:
    """Write the entry a ``queryset.update()`` of ``before`` into ``after`` skipped.

    Call in the transaction of the update; masking and excluded fields
    apply as for a ``save()``. Return None when nothing tracked changed.
    """
    if not auditlog.contains(type(after)) or auditlog_disabled.get():
        return None
    changes = model_instance_diff(
        before,
        after,
        use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
    )
    if not changes:
        return None
    return LogEntry.objects.log_create(
        after, action=LogEntry.Action.UPDATE, changes=changes
    )
