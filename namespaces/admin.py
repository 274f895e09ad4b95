"""Admin for namespaces (teams)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from namespaces.models import Namespace


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    """Teams: created and renamed here; the slug is fixed once workflows use it."""

    list_display = ("slug", "name", "definition_count", "task_count", "created_at")
    search_fields = ("slug", "name", "description")
    date_hierarchy = "created_at"
    fields = ("slug", "name", "description", "uuid", "created_at", "updated_at")
    readonly_fields = ("uuid", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Namespace]:
        return self.scope_queryset(
            request,
            super()
            .get_queryset(request)
            .annotate(
                definition_total=Count("definitions", distinct=True),
                task_total=Count("tasks", distinct=True),
            ),
        )

    def scope_queryset(
        self, request: HttpRequest, queryset: QuerySet[Namespace]
    ) -> QuerySet[Namespace]:
        """Return the namespaces ``request.user`` may see (all, until team roles)."""
        return queryset

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        # Tasks, definitions and audit rows refer to a namespace by slug.
        return (
            (*self.readonly_fields, "slug") if obj is not None else self.readonly_fields
        )

    @admin.display(description="workflow versions", ordering="definition_total")
    def definition_count(self, obj: Namespace) -> SafeString:
        return format_html(
            '<a href="{}?namespace__id__exact={}">{}</a>',
            reverse("admin:workflows_workflowdefinition_changelist"),
            obj.pk,
            obj.definition_total,
        )

    @admin.display(description="tasks", ordering="task_total")
    def task_count(self, obj: Namespace) -> SafeString:
        return format_html(
            '<a href="{}?namespace__id__exact={}">{}</a>',
            reverse("admin:workflows_task_changelist"),
            obj.pk,
            obj.task_total,
        )
