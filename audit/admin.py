"""Admin for the business audit trail: read-only, like the rows themselves.

Staff who are not superusers see the events of the namespaces where they
hold a role (:class:`~tasker_project.admin_kit.scoped.ScopedAdminMixin`, built
on :mod:`namespaces.scoping`); events outside any namespace are for
superusers only.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.export import audit_export
from audit.models import DEACTIVATE_INSTEAD, AuditEvent
from audit.pii import REVEAL, Redactor
from audit.protect import users_in_trail
from audit.selectors import may_export_audit
from namespaces.roles import Action
from namespaces.scoping import may
from tasker_project.admin_kit.display import pretty_json
from tasker_project.admin_kit.redaction import current_admin_request, request_redactor
from tasker_project.admin_kit.scoped import (
    NamespaceFilter,
    ReadOnlyAdminMixin,
    ScopedAdminMixin,
)
from workflows.models import Step, Task

# object_type → admin URL name of that object's page (object_id is its pk).
OBJECT_PAGES = {
    "task": "admin:workflows_task_change",
    "step": "admin:workflows_step_change",
}
# object_type → (changelist, field) whose filter finds the object by object_id.
OBJECT_LISTS = {
    "workflow_definition": ("admin:workflows_workflowdefinition_changelist", "uuid"),
    "namespace": ("admin:namespaces_namespace_changelist", "slug"),
    "grant": ("admin:namespaces_namespacegrant_changelist", "id"),
}


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only events: listed and viewed, never added, changed or deleted."""

    list_display = (
        "created_at",
        "actor_label",
        "initiator_label",
        "action",
        "namespace",
        "object_link",
        "reason_display",
        "correlation_link",
    )
    list_filter = ("action", ("namespace", NamespaceFilter), "object_type")
    list_select_related = ("namespace",)
    search_fields = (
        "=object_id",
        "=correlation_id",
        "=remote_addr",
        "actor_label",
        "initiator_label",
        "action",
        "reason",
    )
    date_hierarchy = "created_at"
    actions = ("export_csv", "export_json")
    fields = (
        "id",
        "created_at",
        "actor_label",
        "actor",
        "initiator_label",
        "correlation_link",
        "remote_addr",
        "action",
        "namespace",
        "object_type",
        "object_link",
        "reason_display",
        "metadata_display",
    )
    readonly_fields = (
        "object_link",
        "reason_display",
        "metadata_display",
        "correlation_link",
    )

    def has_export_permission(self, request: HttpRequest) -> bool:
        """Superusers and maintainers (of their namespaces' events) export."""
        return may_export_audit(user=request.user)

    @admin.action(description="Export selected events as CSV", permissions=("export",))
    def export_csv(self, request: HttpRequest, queryset: Any) -> HttpResponse:
        return self._export(request, queryset, "csv")

    @admin.action(description="Export selected events as JSON", permissions=("export",))
    def export_json(self, request: HttpRequest, queryset: Any) -> HttpResponse:
        return self._export(request, queryset, "json")

    def _export(self, request: HttpRequest, queryset: Any, fmt: str) -> HttpResponse:
        """Download the selected (filtered) events the user may export; audited.

        A maintainer who also views other namespaces gets only the events of
        the namespaces they maintain.
        """
        export = audit_export(
            user=request.user,
            fmt=fmt,
            filters={},
            events=queryset,
            query=request.GET.urlencode(),
        )
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        if request.user.is_superuser:
            return fields
        # The actor's user page is for superusers; others read actor_label.
        return [f for f in fields if f != "actor"]

    @admin.display(description="object", ordering="object_id")
    def object_link(self, obj: AuditEvent) -> SafeString | str:
        label = f"{obj.object_type}:{obj.object_id}"
        try:
            if obj.object_type in OBJECT_PAGES:
                url = reverse(OBJECT_PAGES[obj.object_type], args=[obj.object_id])
            elif obj.object_type in OBJECT_LISTS:
                changelist, field = OBJECT_LISTS[obj.object_type]
                url = f"{reverse(changelist)}?{urlencode({field: obj.object_id})}"
            else:
                return label
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="correlation id", ordering="correlation_id")
    def correlation_link(self, obj: AuditEvent) -> SafeString | str:
        # Every event of the same request or task run, one click away.
        if not obj.correlation_id:
            return "-"
        changelist = reverse("admin:audit_auditevent_changelist")
        url = f"{changelist}?{urlencode({'correlation_id': obj.correlation_id})}"
        return format_html('<a href="{}">{}</a>', url, obj.correlation_id)

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # ?correlation_id=… filters the list to one request or task run.
        if lookup == "correlation_id":
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="metadata")
    def metadata_display(self, obj: AuditEvent) -> SafeString | str:
        # A manual resolve's results, a decision's comment: stored as given.
        return pretty_json(event_redactor(obj).data(obj.metadata))

    @admin.display(description="reason", ordering="reason")
    def reason_display(self, obj: AuditEvent) -> str:
        return event_redactor(obj).text(obj.reason) or "-"


def event_redactor(event: AuditEvent) -> Redactor:
    """Return the redactor of ``event`` for the admin request being rendered.

    An event about a task or a step knows that task's personal values; any
    event also learns those in its own metadata. Outside a request, or for
    an event of no namespace seen by someone other than a superuser, all is
    masked.
    """
    request = current_admin_request()
    if request is None:
        return Redactor().learn(event.metadata)
    cache: dict[Any, Redactor] = request.__dict__.setdefault(
        "_tasker_event_redactors", {}
    )
    if event.pk not in cache:
        cache[event.pk] = _event_redactor(request, event)
    return cache[event.pk]


def _event_redactor(request: HttpRequest, event: AuditEvent) -> Redactor:
    """Build :func:`event_redactor`'s answer; superusers see every event whole."""
    if request.user.is_superuser and request.user.is_active:
        return REVEAL
    task = _event_task(event)
    if task is not None:
        redactor = request_redactor(request, task)
    elif may(request, event.namespace_id, Action.VIEW_PII):
        return REVEAL
    else:
        redactor = Redactor()
    return redactor.learn(event.metadata)


def _event_task(event: AuditEvent) -> Task | None:
    """Return the task an event is about (its own, or its step's), if any."""
    if event.object_type not in OBJECT_PAGES:
        return None
    try:
        pk = uuid.UUID(str(event.object_id))
    except ValueError:
        return None
    if event.object_type == "step":
        step = (
            Step.objects.select_related("task__definition", "task__data_key")
            .filter(pk=pk)
            .first()
        )
        return step.task if step is not None else None
    return Task.objects.select_related("definition", "data_key").filter(pk=pk).first()


User = get_user_model()


def _refuse_if_in_trail(request: HttpRequest, users: Any) -> bool:
    """Message and return True when any of ``users`` appears in the trail."""
    named = users_in_trail([user.pk for user in users])
    if not named:
        return False
    names = ", ".join(sorted(str(u) for u in users if u.pk in named))
    messages.error(request, DEACTIVATE_INSTEAD.format(user=names))
    return True


@admin.action(description="Delete selected users")
def delete_selected_users(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any
) -> Any:
    """Django's bulk delete, refused while a selected user is in the trail."""
    if _refuse_if_in_trail(request, list(queryset)):
        return None
    return delete_selected(modeladmin, request, queryset)


class TrailUserAdmin(UserAdmin):
    """Django's user admin; deleting a user the trail names is refused."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (
                delete_selected_users,
                "delete_selected",
                delete_selected_users.short_description,  # type: ignore[attr-defined]
            )
        return actions

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        user = self.get_object(request, unquote(object_id))
        if user is not None and _refuse_if_in_trail(request, [user]):
            return redirect(
                reverse("admin:auth_user_change", args=[user.pk]),
            )
        return super().delete_view(request, object_id, extra_context)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, TrailUserAdmin)
