"""Admin for steps: errors and results, retry, resolve by hand, approve or reject."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from namespaces.roles import Action
from tasker_project.core.actors import Actor
from tasker_project.core.errors import NotFound, PermissionDenied, TaskerError
from workflows.admin.approvals import MyApprovalsFilter, StepApprovalMixin
from workflows.admin.common import (
    NamespaceFilter,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ScopedAdminMixin,
    admin_link,
    may,
    namespace_ids,
    redacted_json,
    redacted_text,
    report_tasker_error,
    request_redactor,
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
        return super().get_queryset(request).select_related("step__task__definition")

    @admin.display(description="reason")
    def reason_display(self, obj: StepTransition) -> str:
        return redacted_text(obj.step.task, obj.reason)


@admin.register(Step)
class StepAdmin(
    MyApprovalsLinkMixin,
    StepApprovalMixin,
    ScopedAdminMixin,
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
    list_select_related = ("task__definition__namespace", "template")
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
            .select_related("task__definition__namespace", "template", "decided_by")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.template.kind == StepKind.APPROVAL:
            fieldsets.insert(1, self.approval_fieldset)
        return fieldsets

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="{}_{}_resolve".format(*info),
            ),
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="{}_{}_retry".format(*info),
            ),
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="{}_{}_reject".format(*info),
            ),
            *super().get_urls(),
        ]

    def has_operate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return whether the user may retry steps (of ``obj``'s namespace)."""
        if obj is not None:
            return may(request, obj.task.namespace_id, Action.RETRY)
        return request.user.is_superuser or bool(namespace_ids(request, Action.RETRY))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        step = self.get_object(request, unquote(object_id))
        extra: dict[str, Any] = {}
        if step is not None:
            namespace_id = step.task.namespace_id
            waiting = step.status == StepStatus.WAITING_FOR_APPROVAL
            approver = may(request, namespace_id, Action.APPROVE)
            own = step.task.initiator_id == request.user.pk
            extra = {
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
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **extra}
        )

    def _get_step(self, request: HttpRequest, object_id: str) -> Step:
        step = self.get_object(request, unquote(object_id))
        if step is None:
            raise Http404(f"no step {object_id!r}")
        return step

    def _step_page(self, step: Step) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:workflows_step_change", args=[quote(step.pk)])
        )

    def _refuse(
        self, request: HttpRequest, step: Step, action: str, what: str
    ) -> HttpResponseRedirect:
        """Send a user without the role back to the step page with why."""
        namespace = step.task.namespace
        needed = "approver" if action == Action.APPROVE else "operator"
        self.message_user(
            request,
            f"You may not {what} in namespace {namespace} (needs role {needed}).",
            messages.ERROR,
        )
        return self._step_page(step)

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
        try:
            step_retry(
                step=step, actor=Actor.of(request.user), reason="retried in admin"
            )
        except TaskerError as exc:
            report_tasker_error(self, request, f"{label} not retried", exc)
            return
        self.message_user(request, f"{label} re-enqueued.", messages.SUCCESS)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Retry one step from its page (POST only), then show the page again."""
        return require_POST(self._retry_view)(request, object_id)

    def _retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # step_retry checks the role, audits a refusal and it becomes a message.
        step = self._get_step(request, object_id)
        self._retry(request, step)
        return self._step_page(step)

    # ---- resolving by hand -----------------------------------------------

    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the resolve form; on POST resolve the step with the given results."""
        step = self._get_step(request, object_id)
        if request.method != "POST" and not may(
            request, step.task.namespace_id, Action.RESOLVE
        ):
            return self._refuse(request, step, Action.RESOLVE, "resolve steps")
        if request.method == "POST":
            form = ResolveStepForm(request.POST)
            if form.is_valid():
                try:
                    step_resolve(
                        step=step,
                        actor=Actor.of(request.user),
                        results=form.cleaned_data["results"],
                        reason=form.cleaned_data["reason"],
                    )
                except (PermissionDenied, NotFound) as exc:
                    report_tasker_error(self, request, "Not resolved", exc)
                    return self._step_page(step)
                except TaskerError as exc:
                    add_tasker_error(form, exc)
                else:
                    self.message_user(
                        request,
                        f"Step '{step.name}' resolved manually.",
                        messages.SUCCESS,
                    )
                    return self._step_page(step)
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
