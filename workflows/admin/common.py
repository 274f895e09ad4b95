"""Building blocks shared by the workflow admin pages."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from workflows.engine.states import StepStatus, TaskStatus
from workflows.errors import TaskerError

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


def pretty_json(value: Any) -> SafeString | str:
    """Return ``value`` as indented JSON in a ``<pre>``; ``-`` when absent."""
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html(
        '<pre class="tasker-json" style="margin:0;white-space:pre-wrap;'
        'max-height:30em;overflow:auto">{}</pre>',
        text,
    )


def admin_link(obj: Model | None, label: Any = None) -> SafeString | str:
    """Return a link to ``obj``'s admin page, or ``-`` when there is none."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if label is None else label)


def report_tasker_error(
    model_admin: admin.ModelAdmin, request: HttpRequest, subject: str, exc: TaskerError
) -> None:
    """Tell the user, as an error message, why ``subject`` was refused."""
    model_admin.message_user(request, f"{subject}: {exc.message}", messages.ERROR)


class ScopedAdminMixin:
    """Route every admin queryset through one hook, so team scoping lands once.

    Staff and superusers see everything for now; the namespace-role issue
    replaces :meth:`scope_queryset` with a call to the permission selectors.
    """

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Return the part of ``queryset`` that ``request.user`` may see."""
        return queryset

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope_queryset(request, super().get_queryset(request))  # type: ignore[misc]


class ReadOnlyAdminMixin:
    """View-only admin: no add, change or delete through the admin forms.

    Used for engine-owned rows (runs are changed only by services) and for
    the append-only history (transitions), which nothing may change at all.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A tabular inline that only lists rows."""

    extra = 0
    max_num = 0
    can_delete = False
