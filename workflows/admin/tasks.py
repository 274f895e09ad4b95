"""Admin for tasks: watch a run's progress, cancel it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from workflows.actors import Actor
from workflows.admin.common import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ScopedAdminMixin,
    admin_link,
    pretty_json,
    report_tasker_error,
    status_badge,
)
from workflows.engine.states import STEP_SATISFIED, TaskStatus
from workflows.errors import TaskerError
from workflows.models import Step, Task, TaskTransition
from workflows.services import task_cancel

CANCELLABLE = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.FAILED})
# While a task is in one of these, the engine moves it on by itself: worth
# watching. A failed task waits for a person (retry, resolve, cancel).
RUNNING = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS})


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
            "<code>{}</code>: {}", obj.error.get("code", "?"), obj.error.get("message")
        )

    @admin.display(description="results")
    def results_display(self, obj: Step) -> SafeString | str:
        return pretty_json(obj.results)


class TaskTransitionInline(ReadOnlyInline):
    """The task's status history, oldest first."""

    model = TaskTransition
    ordering = ("created_at", "id")
    fields = ("created_at", "from_status", "to_status", "actor_label", "reason")
    readonly_fields = fields
    verbose_name_plural = "status history"


@admin.register(Task)
class TaskAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
    list_filter = ("status", "namespace", "definition__name", "source_system")
    list_select_related = ("definition__namespace", "namespace")
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
                    "parent_step_link",
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
                    "reason",
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
        "parent_step_link",
        "created_at",
        "started_at",
        "completed_at",
        "updated_at",
        "initiator_label",
        "source_system",
        "reason",
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
            .select_related("definition__namespace", "namespace", "parent_step")
            .annotate(
                step_total=Count("steps"),
                step_done=Count("steps", filter=Q(steps__status__in=STEP_SATISFIED)),
            )
        )

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="{}_{}_cancel".format(*info),
            ),
            *super().get_urls(),
        ]

    def has_operate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return whether the user may cancel tasks (team roles refine this later)."""
        return request.user.has_perm("workflows.change_task")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        task = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "auto_refresh": task is not None and task.status in RUNNING,
            "can_cancel": task is not None
            and task.status in CANCELLABLE
            and self.has_operate_permission(request, task),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # ---- columns and read-only fields ------------------------------------

    @admin.display(description="task", ordering="created_at")
    def task_link(self, obj: Task) -> SafeString | str:
        return admin_link(obj, str(obj.pk)[:13] + "…")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Task) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="steps done")
    def progress(self, obj: Task) -> str:
        return f"{obj.step_done}/{obj.step_total}"

    @admin.display(description="workflow version")
    def definition_link(self, obj: Task) -> SafeString | str:
        return admin_link(obj.definition)

    @admin.display(description="parent step")
    def parent_step_link(self, obj: Task) -> SafeString | str:
        return admin_link(obj.parent_step)

    @admin.display(description="context")
    def context_display(self, obj: Task) -> SafeString | str:
        return pretty_json(obj.context)

    # ---- cancelling ------------------------------------------------------

    @admin.action(description="Cancel selected tasks", permissions=("operate",))
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        """Cancel each selected task, reporting each success or refusal."""
        for task in queryset:
            self._cancel(request, task)

    def _cancel(self, request: HttpRequest, task: Task) -> bool:
        try:
            task_cancel(
                task=task, actor=Actor.of(request.user), reason="cancelled in admin"
            )
        except TaskerError as exc:
            report_tasker_error(self, request, f"Task {task.pk} not cancelled", exc)
            return False
        self.message_user(request, f"Task {task.pk} cancelled.", messages.SUCCESS)
        return True

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Cancel one task from its page (POST only), then show the page again."""
        return require_POST(self._cancel_view)(request, object_id)

    def _cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        task = self.get_object(request, unquote(object_id))
        if task is None:
            raise Http404(f"no task {object_id!r}")
        if not self.has_operate_permission(request, task):
            raise PermissionDenied
        self._cancel(request, task)
        return HttpResponseRedirect(
            reverse("admin:workflows_task_change", args=[quote(task.pk)])
        )
