"""Admin for tasks: watch a run's progress, cancel it, find what waits for you."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from namespaces.roles import Action
from namespaces.scoping import may, namespace_ids
from tasker_project.admin_kit.object_views import ObjectViewsMixin, object_view
from tasker_project.admin_kit.redaction import redacted_json, redacted_text
from tasker_project.admin_kit.scoped import NamespaceFilter, ReadOnlyAdminMixin
from workflows.admin.common import (
    ReadOnlyInline,
    WorkflowNameFilter,
    admin_link,
    status_badge,
    visible_link,
)
from workflows.admin.history import task_history_page
from workflows.engine.states import STEP_SATISFIED, StepStatus, TaskStatus
from workflows.models import Step, Task, TaskTransition
from workflows.selectors import approvals_for
from workflows.services import task_cancel

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class TaskProgress(TypedDict):
    """What :meth:`TaskAdmin.get_queryset` annotates on each task."""

    step_total: int
    step_done: int


CANCELLABLE = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.FAILED})
# While a task is in one of these, the engine moves it on by itself: worth
# watching. A failed task waits for a person (retry, resolve, cancel).
RUNNING = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS})
# The Step changelist filter that lists what the user may decide.
MY_APPROVALS_QUERY = "approval=mine"


def my_approvals(request: HttpRequest) -> dict[str, Any] | None:
    """Return the count and list URL of steps waiting for the user's decision.

    None for users who approve nowhere, so their pages stay uncluttered.
    """
    if not namespace_ids(request, Action.APPROVE) and not request.user.is_superuser:
        return None
    return {
        "count": approvals_for(user=request.user).count(),
        "url": f"{reverse('admin:workflows_step_changelist')}?{MY_APPROVALS_QUERY}",
    }


class MyApprovalsLinkMixin:
    """Show the "waiting for my approval" count on a changelist."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "my_approvals": my_approvals(request)}
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


def child_tasks(request: HttpRequest, step: Step) -> list[dict[str, Any]]:
    """Return the step's child tasks, linked only where the user may see them."""
    children = Task.objects.filter(parent_step=step).select_related(
        "namespace", "definition"
    )
    return [
        {
            "link": visible_link(
                request, child, child.namespace, f"{child.definition} {child.pk}"
            ),
            "status": status_badge(child.status),
        }
        for child in children.order_by("created_at")
    ]


class StepInline(ReadOnlyInline):
    """The task's steps in definition (DAG) order, each linking to its own page."""

    model = Step
    fk_name = "task"
    ordering = ("template__position",)
    fields = (
        "step_link",
        "status_badge",
        "attempts_display",
        "next_attempt_at",
        "started_at",
        "completed_at",
        "error_display",
        "results_display",
    )
    readonly_fields = fields
    verbose_name_plural = "steps (in definition order)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Step]:
        return super().get_queryset(request).select_related("template")

    @admin.display(description="step")
    def step_link(self, obj: Step) -> SafeString | str:
        return admin_link(obj, obj.name)

    @admin.display(description="status")
    def status_badge(self, obj: Step) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="attempts")
    def attempts_display(self, obj: Step) -> str:
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="error")
    def error_display(self, obj: Step) -> SafeString | str:
        if not obj.error:
            return "-"
        return format_html(
            "<code>{}</code>: {}",
            obj.error.get("code", "?"),
            redacted_text(obj.task, obj.error.get("message")),
        )

    @admin.display(description="results")
    def results_display(self, obj: Step) -> SafeString | str:
        return redacted_json(obj.task, obj.results)


class TaskTransitionInline(ReadOnlyInline):
    """The task's status history, oldest first."""

    model = TaskTransition
    ordering = ("created_at", "id")
    fields = ("created_at", "from_status", "to_status", "actor_label", "reason_display")
    readonly_fields = fields
    verbose_name_plural = "status history"

    @admin.display(description="reason")
    def reason_display(self, obj: TaskTransition) -> str:
        return redacted_text(obj.task, obj.reason)


@admin.register(Task)
class TaskAdmin(
    MyApprovalsLinkMixin, ObjectViewsMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """Tasks are changed only by the engine and the services, never by a form."""

    change_form_template = "admin/workflows/task/change_form.html"
    list_display = (
        "task_link",
        "definition",
        "status_badge",
        "progress",
        "initiator_label",
        "source_system",
        "created_at",
        "completed_at",
    )
    list_display_links = None
    list_filter = (
        "status",
        ("namespace", NamespaceFilter),
        WorkflowNameFilter,
        "source_system",
    )
    list_select_related = ("definition__namespace", "namespace", "data_key")
    search_fields = (
        "=id",
        "correlation_id",
        "idempotency_key",
        "definition__name",
        "initiator_label",
        "reason",
    )
    date_hierarchy = "created_at"
    actions = ("cancel_selected",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "status_badge",
                    "definition_link",
                    "namespace",
                    "progress",
                )
            },
        ),
        (
            "Timestamps",
            {"fields": ("created_at", "started_at", "completed_at", "updated_at")},
        ),
        (
            "Request",
            {
                "fields": (
                    "initiator_label",
                    "source_system",
                    "reason_display",
                    "tags",
                    "correlation_id",
                    "idempotency_key",
                    "context_display",
                )
            },
        ),
    )
    readonly_fields = (
        "id",
        "status_badge",
        "definition_link",
        "namespace",
        "progress",
        "created_at",
        "started_at",
        "completed_at",
        "updated_at",
        "initiator_label",
        "source_system",
        "reason_display",
        "tags",
        "correlation_id",
        "idempotency_key",
        "context_display",
    )
    inlines = (StepInline, TaskTransitionInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return (
            super()
            .get_queryset(request)
            .select_related(
                "definition__namespace", "namespace", "parent_step", "data_key"
            )
            .annotate(
                step_total=Count("steps"),
                step_done=Count("steps", filter=Q(steps__status__in=STEP_SATISFIED)),
            )
        )

    def has_operate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return whether the user may cancel tasks (of ``obj``'s namespace)."""
        return self.may_act(request, Action.CANCEL, obj)

    def change_context(self, request: HttpRequest, task: Task) -> dict[str, Any]:
        return {
            "auto_refresh": task.status in RUNNING,
            "can_cancel": task.status in CANCELLABLE
            and self.has_operate_permission(request, task),
            "parent": self._parent(request, task),
            "waiting_steps": self._waiting_steps(request, task),
        }

    def _parent(self, request: HttpRequest, task: Task) -> dict[str, Any] | None:
        """Return the step and task that started ``task`` (links only if visible)."""
        step = task.parent_step
        if step is None:
            return None
        parent = Task.objects.select_related("namespace", "definition").get(
            pk=step.task_id
        )
        return {
            "visible": may(request, parent.namespace_id, Action.VIEW),
            "namespace": parent.namespace,
            "step_name": step.name,
            "step": admin_link(step, step.name),
            "task": admin_link(parent, f"{parent.definition} {parent.pk}"),
        }

    def _waiting_steps(self, request: HttpRequest, task: Task) -> list[dict[str, Any]]:
        """Return the steps waiting for a person or a child task, with links."""
        waiting = task.steps.filter(
            status__in=(
                StepStatus.WAITING_FOR_APPROVAL,
                StepStatus.WAITING_FOR_SUBTASK,
            )
        ).order_by("template__position")
        return [
            {
                "link": admin_link(step, step.name),
                "status": status_badge(step.status),
                "children": child_tasks(request, step)
                if step.status == StepStatus.WAITING_FOR_SUBTASK
                else [],
            }
            for step in waiting
        ]

    # ---- columns and read-only fields ------------------------------------

    @admin.display(description="task", ordering="created_at")
    def task_link(self, obj: Task) -> SafeString | str:
        return admin_link(obj, str(obj.pk)[:13] + "…")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Task) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="steps done")
    def progress(self, obj: WithAnnotations[Task, TaskProgress]) -> str:
        return f"{obj.step_done}/{obj.step_total}"

    @admin.display(description="workflow version")
    def definition_link(self, obj: Task) -> SafeString | str:
        return admin_link(obj.definition)

    @admin.display(description="context")
    def context_display(self, obj: Task) -> SafeString | str:
        return redacted_json(obj, obj.context)

    @admin.display(description="reason")
    def reason_display(self, obj: Task) -> str:
        return redacted_text(obj, obj.reason)

    # ---- cancelling ------------------------------------------------------

    @admin.action(description="Cancel selected tasks", permissions=("operate",))
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        """Cancel each selected task, reporting each success or refusal."""
        for task in queryset:
            self._cancel(request, task)

    def _cancel(self, request: HttpRequest, task: Task) -> None:
        self.submit(
            request,
            lambda actor: task_cancel(
                task=task, actor=actor, reason="cancelled in admin"
            ),
            failed=f"Task {task.pk} not cancelled",
            done=f"Task {task.pk} cancelled.",
        )

    @object_view("timeline")
    def timeline_view(self, request: HttpRequest, task: Task) -> HttpResponse:
        """Show the task's transitions, its steps' and its audit events in order."""
        return task_history_page(self, request, task)

    @object_view("cancel", post_only=True)
    def cancel_view(self, request: HttpRequest, task: Task) -> None:
        """Cancel one task from its page, then show the page again.

        No role check here: task_cancel checks it, audits a refusal, and the
        refusal is shown as a message.
        """
        self._cancel(request, task)
