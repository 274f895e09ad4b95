"""Admin for the append-only run history: transitions, the step graph, and
one task's whole history (transitions and audit events) on one timeline."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString

from tasker_project.admin_kit.display import pretty_json
from tasker_project.admin_kit.redaction import (
    redacted_json,
    redacted_text,
    request_redactor,
)
from tasker_project.admin_kit.scoped import (
    NamespaceFilter,
    ReadOnlyAdminMixin,
    ScopedAdminMixin,
)
from workflows.admin.common import admin_link
from workflows.models import StepEdge, StepTransition, Task, TaskTransition
from workflows.selectors import task_history

KIND_LABELS = {
    "task_transition": "task",
    "step_transition": "step",
    "audit": "audit event",
}


def task_history_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, task: Task
) -> TemplateResponse:
    """Render ``task``'s whole history, oldest first, redacted for the viewer.

    The task comes from the admin's scoped queryset, so the viewer may see
    it; personal data is masked unless they are pii_viewer in its namespace.
    """
    rows = task_history(task=task, redactor=request_redactor(request, task))
    entries: list[dict[str, Any]] = [
        {
            **row,
            "kind_label": KIND_LABELS[row["kind"]],
            "metadata_html": pretty_json(row["metadata"]) if row["metadata"] else "",
        }
        for row in rows
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"History of task {task.pk}",
        "subtitle": None,
        "original": task,
        "task_link": admin_link(task, f"{task.definition} {task.pk}"),
        "entries": entries,
    }
    return TemplateResponse(request, "admin/workflows/task/history.html", context)


class TransitionAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """History rows: listed and viewed, never added, changed or deleted."""

    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    readonly_fields = ("reason_display", "metadata_display")
    exclude = ("reason", "metadata")

    @admin.display(description="metadata")
    def metadata_display(
        self, obj: TaskTransition | StepTransition
    ) -> SafeString | str:
        # A manual resolve's results and an approver's comment live here.
        return redacted_json(self.task_of(obj), obj.metadata)

    @admin.display(description="reason")
    def reason_display(self, obj: TaskTransition | StepTransition) -> str:
        return redacted_text(self.task_of(obj), obj.reason)

    def task_of(self, obj: TaskTransition | StepTransition) -> Task:
        """Return the task whose data the row describes (for its PII redactor)."""
        return obj.task if isinstance(obj, TaskTransition) else obj.step.task


@admin.register(TaskTransition)
class TaskTransitionAdmin(TransitionAdmin):
    namespace_path = "task__namespace"
    list_display = (
        "created_at",
        "task_link",
        "from_status",
        "to_status",
        "actor_label",
        "reason_display",
    )
    list_filter = ("to_status", "from_status", ("task__namespace", NamespaceFilter))
    list_select_related = ("task__definition__namespace", "task__data_key")
    search_fields = ("=task__id", "actor_label", "reason")

    @admin.display(description="task", ordering="task__created_at")
    def task_link(self, obj: TaskTransition) -> SafeString | str:
        return admin_link(obj.task, f"{obj.task.definition} {str(obj.task_id)[:13]}…")


@admin.register(StepTransition)
class StepTransitionAdmin(TransitionAdmin):
    namespace_path = "step__task__namespace"
    list_display = (
        "created_at",
        "step_link",
        "attempt",
        "from_status",
        "to_status",
        "actor_label",
        "reason_display",
    )
    list_filter = (
        "to_status",
        "from_status",
        ("step__task__namespace", NamespaceFilter),
    )
    list_select_related = ("step__task__definition", "step__task__data_key")
    search_fields = ("=step__id", "=step__task__id", "step__name", "actor_label")

    @admin.display(description="step")
    def step_link(self, obj: StepTransition) -> SafeString | str:
        return admin_link(obj.step, f"{obj.step.name} ({str(obj.step.task_id)[:13]}…)")


@admin.register(StepEdge)
class StepEdgeAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The per-task copy of the DAG: ``child`` waits for ``parent``."""

    namespace_path = "task__namespace"
    list_display = ("task", "parent_link", "child_link")
    list_select_related = ("task__definition__namespace", "parent", "child")
    search_fields = ("=task__id", "parent__name", "child__name")

    @admin.display(description="parent")
    def parent_link(self, obj: StepEdge) -> SafeString | str:
        return admin_link(obj.parent, obj.parent.name)

    @admin.display(description="child")
    def child_link(self, obj: StepEdge) -> SafeString | str:
        return admin_link(obj.child, obj.child.name)
