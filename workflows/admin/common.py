"""Building blocks of the workflow admin pages: status badges, links, filters.

What every app's admin shares (scoping, object pages, redaction) is in
:mod:`tasker_project.admin_kit`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from namespaces.models import Namespace
from namespaces.roles import Action
from namespaces.scoping import may
from tasker_project.admin_kit.scoped import ReadOnlyAdminMixin
from workflows.engine.states import StepStatus, TaskStatus

# Background colours of the status badges, one per status of tasks and steps.
STATUS_COLOURS: dict[str, str] = {
    StepStatus.PENDING: "#6c757d",
    StepStatus.ENQUEUED: "#3b82f6",
    StepStatus.IN_PROGRESS: "#1d4ed8",
    StepStatus.WAITING_FOR_RETRY: "#d97706",
    StepStatus.WAITING_FOR_APPROVAL: "#b45309",
    StepStatus.WAITING_FOR_SUBTASK: "#b45309",
    StepStatus.COMPLETE: "#15803d",
    StepStatus.FAILED: "#b91c1c",
    StepStatus.CANCELLED: "#374151",
    StepStatus.RESOLVED_MANUALLY: "#7e22ce",
}
STATUS_LABELS: dict[str, str] = {**dict(StepStatus.choices), **dict(TaskStatus.choices)}


def status_badge(status: str) -> SafeString:
    """Return ``status`` as a coloured pill that reads the same on every page."""
    return format_html(
        '<span class="tasker-status tasker-status-{}" style="display:inline-block;'
        "padding:1px 8px;border-radius:9px;color:#fff;background:{};"
        'font-weight:600;white-space:nowrap">{}</span>',
        status,
        STATUS_COLOURS.get(status, "#6c757d"),
        STATUS_LABELS.get(status, status),
    )


def admin_link(obj: Model | None, label: Any = None) -> SafeString | str:
    """Return a link to ``obj``'s admin page, or ``-`` when there is none."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if label is None else label)


def visible_link(
    request: HttpRequest, obj: Model | None, namespace: Namespace | None, label: Any
) -> SafeString | str:
    """Link ``obj`` when the user can see its namespace, else name it without a link.

    Cross-team links (a payments child task of a customer_success step)
    must not lead a user to a page that does not exist for them.
    """
    if obj is None:
        return "-"
    if may(request, namespace, Action.VIEW):
        return admin_link(obj, label)
    return format_html(
        '{} <span class="help">(team {}; not visible to you)</span>', label, namespace
    )


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A tabular inline that only lists rows of an object the user can see.

    The parent admin has already scoped and permission-checked the object;
    its rows belong to the same namespace.
    """

    extra = 0
    max_num = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


class WorkflowNameFilter(admin.SimpleListFilter):
    """Filter by workflow name, offering only names of visible rows.

    Django's default filter on ``definition__name`` would list every
    team's workflows.
    """

    title = "workflow"
    parameter_name = "workflow"
    path = "definition__name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            model_admin.get_queryset(request)
            .order_by()
            .values_list(self.path, flat=True)
            .distinct()
        )
        return [(name, name) for name in sorted(set(names))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(**{self.path: self.value()})
        return queryset
