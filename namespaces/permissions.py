"""Who may do what in which namespace: every request reads roles afresh.

Roles are guardian object permissions on the namespace held through team
groups (or granted to a user directly). Nothing is cached across requests,
so a revoked role takes effect on the very next request; inside an API
request (:func:`roles_snapshot`) a user's roles are read once, in one query,
and every check of that request uses them. Superusers hold every role;
system actors (worker, sweeper, CLI) are trusted and not checked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Field, QuerySet
from django.db.models.options import Options

from audit.trail import audit_record
from namespaces.models import (
    Namespace,
    NamespaceGroupObjectPermission,
    NamespaceUserObjectPermission,
)
from namespaces.roles import (
    ROLE_ACTIONS,
    Action,
    Role,
    permission_codename,
    roles_allowing,
)
from tasker_project.core.actors import Actor
from tasker_project.core.errors import NotFound, PermissionDenied

_CODENAME_ROLES = {permission_codename(role): role for role in Role.values}

# {user id: {namespace id: roles}} while a snapshot is open, else None.
_snapshot: ContextVar[dict[Any, dict[int, frozenset[str]]] | None] = ContextVar(
    "namespace_roles_snapshot", default=None
)


@contextmanager
def roles_snapshot() -> Iterator[None]:
    """Read each user's roles at most once inside the block (one API request).

    A request checks roles several times (scoping its reads, the PII mask,
    the service's own authorisation); inside the block those checks share
    one query. Open it around one request only, so the next request reads
    the roles afresh.
    """
    token = _snapshot.set({})
    try:
        yield
    finally:
        _snapshot.reset(token)


def _active_user(user: Any) -> bool:
    return user is not None and user.is_authenticated and user.is_active


@functools.cache
def _column(meta: Options[Any], name: str) -> str:
    """Return the database column of the concrete field ``name`` of ``meta``."""
    field = meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{meta.label}.{name} is not a concrete field")
    return str(field.column)


def _roles_sql() -> str:
    """Return the query of a user's namespace permissions, direct or via groups.

    Raw SQL, built from the models' metadata: it runs on every API request,
    and the ORM spent longer composing the union than the database spent
    answering it.
    """
    user_groups = get_user_model().groups.through._meta
    permission = Permission._meta.db_table
    parts = []
    for model, owner, via in (
        (NamespaceUserObjectPermission, "user", ""),
        (NamespaceGroupObjectPermission, "group", user_groups.db_table),
    ):
        meta = model._meta
        table = meta.db_table
        object_column = _column(meta, "content_object")
        owner_column = _column(meta, owner)
        permission_column = _column(meta, "permission")
        if via:
            group_column = _column(user_groups, "group")
            user_column = _column(user_groups, "user")
            join = (
                f' JOIN "{via}" m ON m."{group_column}" = o."{owner_column}"'
                f' WHERE m."{user_column}" = %s'
            )
        else:
            join = f' WHERE o."{owner_column}" = %s'
        # Only table and column names from model metadata are interpolated.
        parts.append(
            f'SELECT o."{object_column}", p."codename" FROM "{table}" o'  # noqa: S608
            f' JOIN "{permission}" p ON p."id" = o."{permission_column}"'
            f'{join} AND p."content_type_id" = %s'
        )
    return " UNION ALL ".join(parts)


def _held_roles(user: Any) -> dict[int, frozenset[str]]:
    """Return the roles an active non-superuser holds, by namespace id.

    One query: the user's own object permissions on namespaces and those of
    the groups the user belongs to, as guardian's checker reads them.
    """
    snapshot = _snapshot.get()
    if snapshot is not None and user.pk in snapshot:
        return snapshot[user.pk]
    content_type = ContentType.objects.get_for_model(Namespace).pk
    held: dict[int, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_roles_sql(), [user.pk, content_type, user.pk, content_type])
        for namespace_id, codename in cursor.fetchall():
            role = _CODENAME_ROLES.get(codename)
            if role is not None:
                held.setdefault(namespace_id, set()).add(role)
    roles = {pk: frozenset(names) for pk, names in held.items()}
    if snapshot is not None:
        snapshot[user.pk] = roles
    return roles


def user_roles(user: Any, namespace: Namespace) -> set[str]:
    """Return the roles ``user`` holds in ``namespace`` (all, for a superuser)."""
    if not _active_user(user):
        return set()
    if user.is_superuser:
        return set(Role.values)
    return set(_held_roles(user).get(namespace.pk, ()))


def can(user: Any, namespace: Namespace, action: str) -> bool:
    """Return whether ``user`` may perform ``action`` in ``namespace``."""
    return any(action in ROLE_ACTIONS[role] for role in user_roles(user, namespace))


def namespace_ids_for(user: Any, action: str = Action.VIEW) -> set[int]:
    """Return the ids of the namespaces where ``user`` may perform ``action``."""
    if not _active_user(user):
        return set()
    if user.is_superuser:
        return set(Namespace.objects.values_list("pk", flat=True))
    allowing = set(roles_allowing(action))
    return {pk for pk, roles in _held_roles(user).items() if roles & allowing}


def namespaces_for(user: Any, action: str = Action.VIEW) -> QuerySet[Namespace]:
    """Return the namespaces where ``user`` may perform ``action``."""
    if not _active_user(user):
        return Namespace.objects.none()
    if user.is_superuser:
        return Namespace.objects.all()
    ids = namespace_ids_for(user, action)
    if not ids:
        return Namespace.objects.none()
    return Namespace.objects.filter(pk__in=sorted(ids))


def authorize(
    *, actor: Actor, namespace: Namespace, action: str, target: str = ""
) -> None:
    """Raise unless ``actor`` may perform ``action`` in ``namespace``; audit refusals.

    A user who cannot even see the namespace gets :class:`NotFound`, so the
    refusal does not reveal that the object exists; one who can see it but
    lacks the role gets :class:`PermissionDenied`. Call it before opening a
    transaction, so the audit record of a refusal survives the refusal.
    """
    if actor.user is None:
        return
    roles = user_roles(actor.user, namespace)
    if any(action in ROLE_ACTIONS[role] for role in roles):
        return
    visible = any(Action.VIEW in ROLE_ACTIONS[role] for role in roles)
    audit_record(
        actor=actor,
        action="permission.denied",
        object_type="namespace",
        object_id=namespace.slug,
        namespace=namespace,
        reason=f"{action} refused",
        metadata={"action": action, "target": target, "roles": sorted(roles)},
    )
    if not visible:
        raise NotFound(f"{target or 'object'} not found")
    needed = " or ".join(roles_allowing(action))
    raise PermissionDenied(
        f"{actor.label} may not {Action(action).label} in namespace "
        f"{namespace.slug} (needs role {needed})"
    )
