"""Admin for the business audit trail: read-only, like the rows themselves."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.models import AuditEvent
from workflows.admin.common import pretty_json

# object_type → admin URL name of that object's page (object_id is its pk).
OBJECT_PAGES = {
    "task": "admin:workflows_task_change",
    "step": "admin:workflows_step_change",
}
# object_type → changelist whose ``uuid`` filter finds the object (object_id is
# its public uuid, not its pk).
OBJECT_LISTS_BY_UUID = {
    "workflow_definition": "admin:workflows_workflowdefinition_changelist",
    "namespace": "admin:namespaces_namespace_changelist",
}


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Append-only events: listed and viewed, never added, changed or deleted."""

    list_display = (
        "created_at",
        "actor_label",
        "action",
        "namespace",
        "object_link",
        "reason",
    )
    list_filter = ("action", "namespace", "object_type")
    list_select_related = ("namespace",)
    search_fields = ("=object_id", "actor_label", "action", "reason")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "created_at",
        "actor_label",
        "actor",
        "action",
        "namespace",
        "object_type",
        "object_link",
        "reason",
        "metadata_display",
    )
    readonly_fields = ("object_link", "metadata_display")

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return self.scope_queryset(request, super().get_queryset(request))

    def scope_queryset(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent]
    ) -> QuerySet[AuditEvent]:
        """Return the events ``request.user`` may see (all, until team roles)."""
        return queryset

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="object", ordering="object_id")
    def object_link(self, obj: AuditEvent) -> SafeString | str:
        label = f"{obj.object_type}:{obj.object_id}"
        try:
            if obj.object_type in OBJECT_PAGES:
                url = reverse(OBJECT_PAGES[obj.object_type], args=[obj.object_id])
            elif obj.object_type in OBJECT_LISTS_BY_UUID:
                changelist = reverse(OBJECT_LISTS_BY_UUID[obj.object_type])
                url = f"{changelist}?{urlencode({'uuid': obj.object_id})}"
            else:
                return label
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="metadata")
    def metadata_display(self, obj: AuditEvent) -> SafeString | str:
        return pretty_json(obj.metadata)
