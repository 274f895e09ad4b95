"""Admin for namespaces (teams), their members and their cross-team grants.

Staff who are not superusers see the namespaces where they hold a role.
A namespace's maintainers add and remove its members on its page and
create and revoke the grants that let other teams start its workflows;
every change goes through :mod:`namespaces.services`, which checks the
role again and audits both the change and a refusal. Only superusers
create namespaces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from namespaces.models import Namespace, NamespaceGrant, TeamRole
from namespaces.permissions import namespaces_for
from namespaces.roles import Action, Role
from namespaces.scoping import may, namespace_ids
from namespaces.services import (
    grant_create,
    grant_revoke,
    membership_grant,
    membership_revoke,
    namespace_create,
)
from tasker_project.admin_kit.object_views import ObjectViewsMixin, object_view
from tasker_project.admin_kit.scoped import ScopedAdminMixin
from tasker_project.core.actors import Actor
from tasker_project.core.errors import TaskerError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django_stubs_ext import WithAnnotations


class NamespaceTotals(TypedDict):
    """What :meth:`NamespaceAdmin.get_queryset` annotates on each namespace."""

    definition_total: int
    task_total: int


class MemberForm(forms.Form):
    """Add one user to one role of the namespace."""

    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)


class RemoveMemberForm(forms.Form):
    """Remove one active user (by id, as the page's buttons send it) from a role."""

    user: forms.ModelChoiceField[AbstractBaseUser] = forms.ModelChoiceField(
        queryset=None, error_messages={"invalid_choice": "No such active user."}
    )
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user_field = cast(
            "forms.ModelChoiceField[AbstractBaseUser]", self.fields["user"]
        )
        user_field.queryset = get_user_model().objects.filter(is_active=True)


def form_errors(form: forms.Form) -> str:
    """Return a form's errors as one line for a message: ``field: why; …``."""
    return "; ".join(
        f"{field}: {' '.join(str(e) for e in errors)}"
        for field, errors in form.errors.items()
    )


@admin.register(Namespace)
class NamespaceAdmin(ObjectViewsMixin, admin.ModelAdmin):
    """Teams: superusers create and rename them; maintainers manage members."""

    namespace_path = ""
    change_form_template = "admin/namespaces/namespace/change_form.html"
    list_display = ("slug", "name", "definition_count", "task_count", "created_at")
    search_fields = ("slug", "name", "description")
    date_hierarchy = "created_at"
    fields = ("slug", "name", "description", "uuid", "created_at", "updated_at")
    readonly_fields = ("uuid", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Namespace]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                definition_total=Count("definitions", distinct=True),
                task_total=Count("tasks", distinct=True),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        # Tasks, definitions and audit rows refer to a namespace by slug.
        return (
            (*self.readonly_fields, "slug") if obj is not None else self.readonly_fields
        )

    def save_model(
        self, request: HttpRequest, obj: Namespace, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new namespace gets its role groups and an audit record.
        created = namespace_create(
            slug=obj.slug,
            name=obj.name,
            description=obj.description,
            actor=Actor.of(request.user),
        )
        obj.pk, obj.uuid = created.pk, created.uuid
        obj.created_at, obj.updated_at = created.created_at, created.updated_at
        obj._state.adding = False

    def change_context(
        self, request: HttpRequest, namespace: Namespace
    ) -> dict[str, Any]:
        return {
            "team": team_of(namespace),
            "can_manage_members": may(request, namespace, Action.MANAGE_MEMBERS),
            "member_form": MemberForm(),
        }

    @object_view("members", post_only=True)
    def members_view(self, request: HttpRequest, namespace: Namespace) -> None:
        """Add (``username``, ``role``) or remove (``user``, ``role``).

        No role check here: the services check it and audit a refusal.
        """
        removing = request.POST.get("op") == "remove"
        failed = "Member not removed" if removing else "Member not added"
        # A form, not a raw lookup: a malformed id is a message, not a 500.
        form = (RemoveMemberForm if removing else MemberForm)(request.POST)
        if not form.is_valid():
            self.message_user(request, f"{failed}: {form_errors(form)}", messages.ERROR)
            return
        role = form.cleaned_data["role"]
        if removing:
            user, verb, call = (
                form.cleaned_data["user"],
                "removed from",
                membership_revoke,
            )
        else:
            username = form.cleaned_data["username"]
            user = get_user_model().objects.filter(is_active=True, username=username)
            user = user.first()
            if user is None:
                self.message_user(
                    request, f"No active user {username!r}.", messages.ERROR
                )
                return
            verb, call = "added to", membership_grant
        self.submit(
            request,
            lambda actor: call(namespace=namespace, user=user, role=role, actor=actor),
            failed=failed,
            done=f"{user.get_username()} {verb} the {role} role of {namespace}.",
        )

    @admin.display(description="workflow versions", ordering="definition_total")
    def definition_count(
        self, obj: WithAnnotations[Namespace, NamespaceTotals]
    ) -> SafeString:
        return format_html(
            '<a href="{}?namespace__id__exact={}">{}</a>',
            reverse("admin:workflows_workflowdefinition_changelist"),
            obj.pk,
            obj.definition_total,
        )

    @admin.display(description="tasks", ordering="task_total")
    def task_count(
        self, obj: WithAnnotations[Namespace, NamespaceTotals]
    ) -> SafeString:
        return format_html(
            '<a href="{}?namespace__id__exact={}">{}</a>',
            reverse("admin:workflows_task_changelist"),
            obj.pk,
            obj.task_total,
        )


def team_of(namespace: Namespace) -> list[dict[str, Any]]:
    """Return each role of ``namespace`` with its members, in role order."""
    groups = {
        team_role.role: team_role.group
        for team_role in TeamRole.objects.filter(namespace=namespace).select_related(
            "group"
        )
    }
    team = []
    for role, label in Role.choices:
        group = groups.get(role)
        members = list(group.user_set.order_by("username")) if group else []
        team.append({"role": role, "label": label, "members": members})
    return team


class GrantForm(forms.ModelForm):
    """Create a grant; its target is limited to namespaces the user maintains."""

    class Meta:
        model = NamespaceGrant
        fields = ("source", "target", "workflow", "reason")
        help_texts = {
            "source": "The team whose workflows may start the target's workflow.",
            "target": "Your team, which owns the workflow.",
            "workflow": "The name of the target's workflow (e.g. process_refund).",
        }

    def clean(self) -> dict[str, Any]:
        super().clean()  # a ModelForm's clean() returns self.cleaned_data
        cleaned = self.cleaned_data
        source, target = cleaned.get("source"), cleaned.get("target")
        if source is not None and source == target:
            self.add_error(
                "source", "A namespace needs no grant to run its own workflows."
            )
        return cleaned


@admin.register(NamespaceGrant)
class NamespaceGrantAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Cross-team grants: created and revoked by the target team's maintainers.

    A grant is never edited: revoke it and create another. Members of either
    team see it.
    """

    form = GrantForm
    list_display = (
        "target",
        "workflow",
        "source",
        "reason",
        "created_by_label",
        "created_at",
    )
    list_select_related = ("source", "target", "created_by")
    search_fields = ("workflow", "source__slug", "target__slug", "reason")
    readonly_fields = ("created_by_label", "created_at")
    namespace_path = ("source", "target")
    # A grant's reason says why a team may start another's workflow.
    private_search_fields = frozenset()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or bool(
            namespace_ids(request, Action.MANAGE_GRANTS)
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return self.has_add_permission(request)
        return may(request, obj.target_id, Action.MANAGE_GRANTS)

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "target":
            kwargs["queryset"] = namespaces_for(request.user, Action.MANAGE_GRANTS)
        elif db_field.name == "source":
            # The source team is usually one the maintainer is not a member of.
            kwargs["queryset"] = Namespace.objects.all()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: NamespaceGrant, form: Any, change: bool
    ) -> None:
        try:
            grant = grant_create(
                source=obj.source,
                target=obj.target,
                workflow=obj.workflow,
                reason=obj.reason,
                actor=Actor.of(request.user),
            )
        except TaskerError as exc:
            # The form offers only targets the user maintains: only a role
            # revoked meanwhile gets here.
            raise PermissionDenied(exc.message) from exc
        obj.pk, obj.created_by, obj.created_at = (
            grant.pk,
            grant.created_by,
            grant.created_at,
        )
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: NamespaceGrant) -> None:
        self._revoke(request, obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[NamespaceGrant]
    ) -> None:
        for grant in queryset.select_related("source", "target"):
            self._revoke(request, grant)

    @admin.display(description="created by")
    def created_by_label(self, obj: NamespaceGrant) -> str:
        # A name, not a link: staff who are not superusers cannot open users.
        return obj.created_by.get_username() if obj.created_by else "-"

    def _revoke(self, request: HttpRequest, grant: NamespaceGrant) -> None:
        try:
            grant_revoke(
                grant=grant, actor=Actor.of(request.user), reason="revoked in admin"
            )
        except TaskerError as exc:
            raise PermissionDenied(exc.message) from exc
