"""Team set-up, membership and cross-team grants; every change is audited."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction
from guardian.shortcuts import assign_perm

from audit.trail import audit_record
from namespaces.models import Namespace, NamespaceGrant, TeamRole
from namespaces.permissions import authorize
from namespaces.roles import Action, Role, permission_codename
from tasker_project.core.actors import Actor
from tasker_project.core.errors import PermissionDenied, TaskerError


def team_roles_ensure(*, namespace: Namespace) -> dict[str, Group]:
    """Create the namespace's five role groups and their object permissions."""
    groups: dict[str, Group] = {}
    for role in Role.values:
        team_role = (
            TeamRole.objects.select_related("group")
            .filter(namespace=namespace, role=role)
            .first()
        )
        if team_role is None:
            group, _ = Group.objects.get_or_create(name=f"team:{namespace.slug}:{role}")
            team_role = TeamRole.objects.create(
                namespace=namespace, role=role, group=group
            )
            assign_perm(permission_codename(role), group, namespace)
        groups[role] = team_role.group
    return groups


def namespace_create(
    *, slug: str, name: str, actor: Actor, description: str = ""
) -> Namespace:
    """Create a namespace with its role groups."""
    if actor.user is not None and not actor.user.is_superuser:
        raise TaskerError(
            "only a superuser creates namespaces", code="permission_denied"
        )
    with transaction.atomic():
        namespace = Namespace(slug=slug, name=name, description=description)
        namespace.full_clean()
        namespace.save()
        team_roles_ensure(namespace=namespace)
        audit_record(
            actor=actor,
            action="namespace.created",
            object_type="namespace",
            object_id=namespace.slug,
            namespace=namespace,
        )
    return namespace


def membership_grant(*, namespace: Namespace, user, role: str, actor: Actor) -> None:
    """Give ``user`` the ``role`` in ``namespace`` (maintainers and superusers)."""
    if role not in Role.values:
        raise TaskerError(
            f"unknown role {role!r}",
            code="invalid_role",
            fields={"role": [f"Choose one of {', '.join(Role.values)}."]},
        )
    authorize(
        actor=actor, namespace=namespace, action=Action.MANAGE_MEMBERS, target="team"
    )
    _refuse_self_grant(namespace=namespace, user=user, role=role, actor=actor)
    with transaction.atomic():
        group = team_roles_ensure(namespace=namespace)[role]
        if group.user_set.filter(pk=user.pk).exists():
            return
        group.user_set.add(user)
        audit_record(
            actor=actor,
            action="membership.granted",
            object_type="user",
            object_id=user.get_username(),
            namespace=namespace,
            metadata={
                "role": role,
                "granted_by": actor.label,
                "granted_to": user.get_username(),
            },
        )


# Roles whose holder checks others' work or reads what others may not: who
# holds them must be decided by someone else (separation of duties).
SELF_GRANT_FORBIDDEN = frozenset({Role.APPROVER, Role.PII_VIEWER})


def _refuse_self_grant(*, namespace: Namespace, user, role: str, actor: Actor) -> None:
    """Refuse (403, audited) a maintainer granting themselves a guarded role.

    Another maintainer of the namespace or a superuser must grant
    ``approver`` and ``pii_viewer``; a superuser already holds every role.
    """
    if (
        role not in SELF_GRANT_FORBIDDEN
        or actor.user is None
        or actor.user.pk != user.pk
        or actor.user.is_superuser
    ):
        return
    audit_record(
        actor=actor,
        action="permission.denied",
        object_type="user",
        object_id=user.get_username(),
        namespace=namespace,
        reason=f"separation of duties: {actor.label} cannot grant themselves {role}",
        metadata={"action": "membership.grant", "role": role},
    )
    raise PermissionDenied(
        f"{actor.label} cannot grant themselves the {role} role in {namespace.slug}; "
        "another maintainer of the namespace or a superuser must grant it "
        "(separation of duties)",
        code="self_grant",
    )


def membership_revoke(*, namespace: Namespace, user, role: str, actor: Actor) -> None:
    """Take ``role`` in ``namespace`` away from ``user``; effective at once."""
    authorize(
        actor=actor, namespace=namespace, action=Action.MANAGE_MEMBERS, target="team"
    )
    with transaction.atomic():
        group = team_roles_ensure(namespace=namespace).get(role)
        if group is None or not group.user_set.filter(pk=user.pk).exists():
            return
        group.user_set.remove(user)
        audit_record(
            actor=actor,
            action="membership.revoked",
            object_type="user",
            object_id=user.get_username(),
            namespace=namespace,
            metadata={
                "role": role,
                "revoked_by": actor.label,
                "revoked_from": user.get_username(),
            },
        )


def grant_create(
    *,
    source: Namespace,
    target: Namespace,
    workflow: str,
    actor: Actor,
    reason: str = "",
) -> NamespaceGrant:
    """Let ``source`` start ``target.workflow`` as a child task (target maintainers)."""
    if source.pk == target.pk:
        raise TaskerError(
            "a namespace needs no grant to run its own workflows",
            code="invalid_grant",
            fields={"source": ["Must differ from the target namespace."]},
        )
    authorize(
        actor=actor, namespace=target, action=Action.MANAGE_GRANTS, target="grant"
    )
    with transaction.atomic():
        grant, created = NamespaceGrant.objects.get_or_create(
            source=source,
            target=target,
            workflow=workflow,
            defaults={"created_by": actor.user, "reason": reason},
        )
        if created:
            audit_record(
                actor=actor,
                action="grant.created",
                object_type="grant",
                object_id=grant.pk,
                namespace=target,
                reason=reason,
                metadata={
                    "source": source.slug,
                    "workflow": f"{target.slug}.{workflow}",
                },
            )
    return grant


def grant_revoke(*, grant: NamespaceGrant, actor: Actor, reason: str = "") -> None:
    """Withdraw a cross-team grant; running child tasks are not affected."""
    authorize(
        actor=actor, namespace=grant.target, action=Action.MANAGE_GRANTS, target="grant"
    )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="grant.revoked",
            object_type="grant",
            object_id=grant.pk,
            namespace=grant.target,
            reason=reason,
            metadata={
                "source": grant.source.slug,
                "workflow": f"{grant.target.slug}.{grant.workflow}",
            },
        )
        grant.delete()
