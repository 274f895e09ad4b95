"""Who may do what in which namespace: every check reads roles afresh.

Roles are guardian object permissions on the namespace held through team
groups. Nothing is cached across calls, so a revoked role takes effect on
the very next check. Superusers hold every role; system actors (worker,
sweeper, CLI) are trusted and not checked.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import get_objects_for_user

from namespaces.models import Namespace
from namespaces.roles import (
    ROLE_ACTIONS,
    Action,
    Role,
    permission_codename,
    roles_allowing,
)
from workflows.actors import Actor
from workflows.errors import NotFound, PermissionDenied


def user_roles(user: Any, namespace: Namespace) -> set[str]:
    """Return the roles ``user`` holds in ``namespace`` (all, for a superuser)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return set(Role.values)
    perms = ObjectPermissionChecker(user).get_perms(namespace)
    return {role for role in Role.values if permission_codename(role) in perms}


def can(user: Any, namespace: Namespace, action: str) -> bool:
    """Return whether ``user`` may perform ``action`` in ``namespace``."""
    return any(action in ROLE_ACTIONS[role] for role in user_roles(user, namespace))


def namespaces_for(user: Any, action: str = Action.VIEW) -> QuerySet[Namespace]:
    """Return the namespaces where ``user`` may perform ``action``."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Namespace.objects.none()
    if user.is_superuser:
        return Namespace.objects.all()
    codenames = [permission_codename(role) for role in roles_allowing(action)]
    return get_objects_for_user(
        user,
        codenames,
        klass=Namespace,
        any_perm=True,
        with_superuser=False,
        accept_global_perms=False,
    )


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
    from audit.services import audit_record

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
