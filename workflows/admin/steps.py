"""Admin for steps: errors and results, retry, resolve by hand, approve or reject."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from namespaces.roles import Action
from namespaces.scoping import may
from tasker_project.admin_kit.object_views import ObjectViewsMixin, object_view
from tasker_project.admin_kit.redaction import (
    redacted_json,
    redacted_text,
    request_redactor,
)
from tasker_project.admin_kit.scoped import NamespaceFilter, ReadOnlyAdminMixin
from tasker_project.core.errors import NotFound, PermissionDenied, TaskerError
from workflows.admin.approvals import MyApprovalsFilter, StepApprovalMixin
from workflows.admin.common import (
    ReadOnlyInline,
    admin_link,
    status_badge,
)
from workflows.admin.forms import ResolveStepForm, add_tasker_error
from workflows.admin.tasks import RUNNING, MyApprovalsLinkMixin, child_tasks
from workflows.engine.states import STEP_TERMINAL, StepStatus
from workflows.models import Step, StepKind, StepTransition
from workflows.services import step_resolve, step_retry


class TaskStatusFilter(admin.ChoicesFieldListFilter):
    """The status of the step's task, titled apart from the step's own status."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "task status"


RESOLVABLE = frozenset({StepStatus.PENDING, StepStatus.FAILED})


class StepTransitionInline(ReadOnlyInline):
    """The step's status history, oldest first, with the attempt of each change."""

    model = StepTransition
    ordering = ("created_at", "id")
    fields = (
        "created_at",
        "attempt",
        "from_status",
        "to_status",
        "actor_label",
        "reason_display",
    )
    readonly_fields = fields
    verbose_name_plural = "status history"

    def get_queryset(self, request: HttpRequest) -> QuerySet[StepTransition]:
        return (
            super()
            .get_queryset(request)
            .select_related("step__task__definition", "step__task__data_key")
        )

    @admin.display(description="reason")
    def reason_display(self, obj: StepTransition) -> str:
        return redacted_text(obj.step.task, obj.reason)


@admin.register(Step)
class StepAdmin(
    MyApprovalsLinkMixin,
    StepApprovalMixin,
    ObjectViewsMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    """Steps are changed only by the engine and the services, never by a form."""

    namespace_path = "task__namespace"
    change_form_template = "admin/workflows/step/change_form.html"
    list_display = (
        "name",
        "task_link",
        "workflow",
        "status_badge",
        "attempts_display",
        "next_attempt_at",
        "error_code",
        "updated_at",
    )
    list_filter = (
        MyApprovalsFilter,
        "status",
        ("task__namespace", NamespaceFilter),
        "template__kind",
        ("task__status", TaskStatusFilter),
    )
    list_select_related = ("task__definition__namespace", "task__data_key", "template")
    search_fields = (
        "name",
        "=task__id",
        "task__correlation_id",
        "task__definition__name",
    )
    date_hierarchy = "created_at"
    ordering = ("-task__created_at", "template__position")
    actions = ("retry_selected",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "status_badge",
                    "task_link",
                    "workflow",
                    "kind",
                    "handler",
                    "depends_on_display",
                    "attempts_display",
                )
            },
        ),
        (
            "Timestamps",
            {
                "fields": (
                    "created_at",
                    "enqueued_at",
                    "started_at",
                    "next_attempt_at",
                    "lease_expires_at",
                    "completed_at",
                    "updated_at",
                )
            },
        ),
        ("Results", {"fields": ("results_display",)}),
        (
            "Error",
            {
                "fields": (
                    "error_code",
                    "error_message",
                    "error_class",
                    "error_attempt",
                    "error_traceback",
                )
            },
        ),
    )
    readonly_fields = (
        "name",
        "status_badge",
        "task_link",
        "workflow",
        "kind",
        "handler",
        "depends_on_display",
        "attempts_display",
        "created_at",
        "enqueued_at",
        "started_at",
        "next_attempt_at",
        "lease_expires_at",
        "completed_at",
        "updated_at",
        "results_display",
        "error_code",
        "error_message",
        "error_class",
        "error_attempt",
        "error_traceback",
        "approval_reason",
        "approval_details",
        "decision_display",
        "decided_by_display",
        "decided_at",
        "decision_comment_display",
    )
    inlines = (StepTransitionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Step]:
        return (
            super()
            .get_queryset(request)
            .select_related(
                "task__definition__namespace",
                "task__data_key",
                "template",
                "decided_by",
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.template.kind == StepKind.APPROVAL:
            fieldsets.insert(1, self.approval_fieldset)
        return fieldsets

    def has_operate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return whether the user may retry steps (of ``obj``'s namespace)."""
        return self.may_act(request, Action.RETRY, obj)

    def change_context(self, request: HttpRequest, step: Step) -> dict[str, Any]:
        namespace_id = step.task.namespace_id
        waiting = step.status == StepStatus.WAITING_FOR_APPROVAL
        approver = may(request, namespace_id, Action.APPROVE)
        own = step.task.initiator_id == request.user.pk
        return {
            "auto_refresh": step.status not in STEP_TERMINAL
            and not waiting
            and step.task.status in RUNNING,
            "can_retry": step.status == StepStatus.FAILED
            and may(request, namespace_id, Action.RETRY),
            "can_resolve": step.status in RESOLVABLE
            and may(request, namespace_id, Action.RESOLVE),
            "can_decide": waiting and approver and not own,
            "own_request": waiting and approver and own,
            "children": child_tasks(request, step)
            if step.template.kind == StepKind.SUBWORKFLOW
            else [],
        }

    # ---- columns and read-only fields ------------------------------------

    @admin.display(description="task", ordering="task__created_at")
    def task_link(self, obj: Step) -> SafeString | str:
        return admin_link(obj.task, str(obj.task_id)[:13] + "…")

    @admin.display(description="workflow")
    def workflow(self, obj: Step) -> SafeString | str:
        return admin_link(obj.task.definition)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Step) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="attempts")
    def attempts_display(self, obj: Step) -> str:
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="kind")
    def kind(self, obj: Step) -> str:
        return obj.template.get_kind_display()

    @admin.display(description="handler")
    def handler(self, obj: Step) -> SafeString:
        return format_html("<code>{}</code>", obj.template.handler)

    @admin.display(description="depends on")
    def depends_on_display(self, obj: Step) -> SafeString | str:
        parents = Step.objects.filter(child_edges__child=obj).order_by(
            "template__position"
        )
        if not parents:
            return "— (root)"
        return format_html_join(
            ", ",
            "{} {}",
            ((admin_link(p, p.name), status_badge(p.status)) for p in parents),
        )

    @admin.display(description="results")
    def results_display(self, obj: Step) -> SafeString | str:
        return redacted_json(obj.task, obj.results)

    @admin.display(description="error code")
    def error_code(self, obj: Step) -> str:
        return (obj.error or {}).get("code") or "-"

    @admin.display(description="error message")
    def error_message(self, obj: Step) -> str:
        return redacted_text(obj.task, (obj.error or {}).get("message"))

    @admin.display(description="exception class")
    def error_class(self, obj: Step) -> str:
        return (obj.error or {}).get("class") or "-"

    @admin.display(description="failed attempt")
    def error_attempt(self, obj: Step) -> str:
        return str((obj.error or {}).get("attempt") or "-")

    @admin.display(description="traceback")
    def error_traceback(self, obj: Step) -> SafeString | str:
        text = redacted_text(obj.task, (obj.error or {}).get("traceback"))
        if text == "-":
            return "-"
        return format_html(
            '<pre style="margin:0;white-space:pre-wrap;max-height:40em;overflow:auto">'
            "{}</pre>",
            text,
        )

    # ---- retrying --------------------------------------------------------

    @admin.action(description="Retry selected failed steps", permissions=("operate",))
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Step]) -> None:
        """Re-enqueue each selected failed step; report each refusal by name."""
        for step in queryset:
            self._retry(request, step)

    def _retry(self, request: HttpRequest, step: Step) -> None:
        label = f"Step '{step.name}' of task {step.task_id}"
        self.submit(
            request,
            lambda actor: step_retry(step=step, actor=actor, reason="retried in admin"),
            failed=f"{label} not retried",
            done=f"{label} re-enqueued.",
        )

    @object_view("retry", post_only=True)
    def retry_view(self, request: HttpRequest, step: Step) -> None:
        """Retry one step from its page, then show the page again.

        step_retry checks the role, audits a refusal and it becomes a message.
        """
        self._retry(request, step)

    # ---- resolving by hand -----------------------------------------------

    @object_view("resolve", role=Action.RESOLVE, refusal="resolve steps")
    def resolve_view(self, request: HttpRequest, step: Step) -> HttpResponse | None:
        """Show the resolve form; on POST resolve the step with the given results."""
        if request.method == "POST":
            form = ResolveStepForm(request.POST)
            if form.is_valid():

                def on_form(exc: TaskerError) -> bool:
                    if isinstance(exc, PermissionDenied | NotFound):
                        return False
                    add_tasker_error(form, exc)
                    return True

                outcome = self.submit(
                    request,
                    lambda actor: step_resolve(
                        step=step,
                        actor=actor,
                        results=form.cleaned_data["results"],
                        reason=form.cleaned_data["reason"],
                    ),
                    failed="Not resolved",
                    done=f"Step '{step.name}' resolved manually.",
                    on_form=on_form,
                )
                if outcome.shown:
                    return None
        else:
            form = ResolveStepForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Resolve step '{step.name}' manually",
            "subtitle": None,
            "original": step,
            "step": step,
            "task_link": admin_link(step.task),
            "status": status_badge(step.status),
            "resolvable": step.status in RESOLVABLE,
            "error": request_redactor(request, step.task).error(step.error),
            "form": form,
        }
        return TemplateResponse(request, "admin/workflows/step/resolve.html", context)
