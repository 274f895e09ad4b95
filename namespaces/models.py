"""A namespace is a team: it owns workflows and the tasks run from them.

Team roles are django-guardian object permissions on the namespace
(``role_viewer`` … ``role_pii_viewer``), granted to one Group per
(namespace, role); membership is membership of that group. The direct-FK
permission models keep each grant a row per group, never a row per task.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from namespaces.roles import Role, permission_codename
from tasker_project.core.ids import uuid7
from tasker_project.core.timestamps import TimeStampedModel

SLUG_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "Use lowercase letters, digits and underscores, starting with a letter.",
)


class Namespace(TimeStampedModel):
    """A team namespace such as ``payments`` or ``customer_success``."""

    uuid = models.UUIDField(default=uuid7, unique=True, editable=False)
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]
        permissions = [
            (permission_codename(r.value), f"{r.label} of the team") for r in Role
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(slug__regex=SLUG_PATTERN),
                name="namespace_slug_format",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class NamespaceUserObjectPermission(UserObjectPermissionBase):
    """Guardian's direct-FK user permission on a namespace."""

    content_object = models.ForeignKey(Namespace, on_delete=models.CASCADE)


class NamespaceGroupObjectPermission(GroupObjectPermissionBase):
    """Guardian's direct-FK group permission on a namespace."""

    content_object = models.ForeignKey(Namespace, on_delete=models.CASCADE)


class TeamRole(models.Model):
    """The Group that holds one role of one namespace; its members hold the role."""

    namespace = models.ForeignKey(
        Namespace, on_delete=models.CASCADE, related_name="team_roles"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    group = models.OneToOneField(
        Group, on_delete=models.CASCADE, related_name="team_role"
    )

    class Meta:
        ordering = ["namespace__slug", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "role"], name="team_role_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="team_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace.slug}:{self.role}"


class NamespaceGrant(models.Model):
    """``source`` may start ``target``'s workflow ``workflow`` as a child task.

    Cross-team calls are denied unless such a grant exists; the target
    team's maintainers create and revoke them.
    """

    source = models.ForeignKey(
        Namespace, on_delete=models.CASCADE, related_name="grants_given_to"
    )
    target = models.ForeignKey(
        Namespace, on_delete=models.CASCADE, related_name="grants_received_from"
    )
    workflow = models.CharField(max_length=100)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["target__slug", "workflow", "source__slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "workflow"], name="grant_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")), name="grant_cross_team"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source.slug} may start {self.target.slug}.{self.workflow}"

    @classmethod
    def permits(cls, *, source_slug: str, target: Namespace, workflow: str) -> bool:
        """Return whether namespace ``source_slug`` may start ``target.workflow``."""
        return cls.objects.filter(
            source__slug=source_slug, target=target, workflow=workflow
        ).exists()
