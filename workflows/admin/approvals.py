"""Approval steps in the admin: the request, the decision, approve and reject.

The decision itself is :func:`~workflows.services.step_approve` /
:func:`~workflows.services.step_reject`, which check the approver role and
the four-eyes rule and audit a refusal; this module only shows the request,
asks for the comment and reports the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from namespaces.roles import Action
from tasker_project.admin_kit.display import pretty_json
from tasker_project.admin_kit.object_views import object_view
from tasker_project.admin_kit.redaction import (
    admin_redactor,
    redacted_text,
    request_redactor,
)
from tasker_project.core.errors import TaskerError
from workflows.admin.common import admin_link, status_badge
from workflows.admin.forms import DecisionForm, add_tasker_error
from workflows.engine.states import StepStatus
from workflows.models import Step
from workflows.selectors import approvals_for
from workflows.services import step_approve, step_reject

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite
    from django.contrib.admin.options import _FieldOpts
    from django.db.models.options import Options

# decision → (service, verb on buttons and messages)
DECISIONS = {
    "approve": (step_approve, "approved"),
    "reject": (step_reject, "rejected"),
}


class MyApprovalsFilter(admin.SimpleListFilter):
    """Offer "Waiting for my approval": steps the user may decide, never their own."""

    title = "approval"
    parameter_name = "approval"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("mine", "Waiting for my approval")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Step]) -> QuerySet:
        if self.value() == "mine":
            return queryset.filter(pk__in=approvals_for(user=request.user).values("pk"))
        return queryset


class StepApprovalMixin:
    """The Step admin's approval fieldset and its approve and reject views.

    The admin using it is an
    :class:`~tasker_project.admin_kit.object_views.ObjectViewsMixin`.
    """

    # Set by the ModelAdmin it is mixed into (declared here for the type checker).
    admin_site: AdminSite
    opts: Options[Step]

    approval_fieldset: tuple[str, _FieldOpts] = (
        "Approval",
        {
            "fields": (
                "approval_reason",
                "approval_details",
                "decision_display",
                "decided_by_display",
                "decided_at",
                "decision_comment_display",
            )
        },
    )

    @admin.display(description="asks")
    def approval_reason(self, obj: Step) -> str:
        return redacted_text(obj.task, (obj.approval_request or {}).get("reason"))

    @admin.display(description="details")
    def approval_details(self, obj: Step) -> SafeString | str:
        details = (obj.approval_request or {}).get("details")
        return details_table(admin_redactor(obj.task).data(details))

    @admin.display(description="decision comment")
    def decision_comment_display(self, obj: Step) -> str:
        return redacted_text(obj.task, obj.decision_comment)

    @admin.display(description="decided by")
    def decided_by_display(self, obj: Step) -> str:
        # A name, not a link: staff who are not superusers cannot open users.
        return obj.decided_by.get_username() if obj.decided_by else "-"

    @admin.display(description="decision")
    def decision_display(self, obj: Step) -> SafeString | str:
        if not obj.decision:
            return "waiting" if obj.status == StepStatus.WAITING_FOR_APPROVAL else "-"
        return format_html("<strong>{}</strong>", obj.get_decision_display())

    # ---- approving and rejecting -----------------------------------------

    @object_view("approve", role=Action.APPROVE, refusal="approve steps")
    def approve_view(self, request: HttpRequest, step: Step) -> HttpResponse | None:
        """Ask for a comment, then approve the waiting step."""
        return self._decide_view(request, step, "approve")

    @object_view("reject", role=Action.APPROVE, refusal="reject steps")
    def reject_view(self, request: HttpRequest, step: Step) -> HttpResponse | None:
        """Ask for a comment, then reject the waiting step (failing its task)."""
        return self._decide_view(request, step, "reject")

    def _decide_view(
        self, request: HttpRequest, step: Step, verb: str
    ) -> HttpResponse | None:
        service, done = DECISIONS[verb]
        if request.method == "POST":
            form = DecisionForm(request.POST)
            if form.is_valid():

                def on_form(exc: TaskerError) -> bool:
                    if not set(exc.fields) & set(form.fields):
                        return False
                    add_tasker_error(form, exc)
                    return True

                outcome = self.submit(  # type: ignore[attr-defined]
                    request,
                    lambda actor: service(
                        step=step, actor=actor, comment=form.cleaned_data["comment"]
                    ),
                    failed=f"Not {done}",
                    done=f"Step '{step.name}' of task {step.task_id} {done}.",
                    on_form=on_form,
                )
                if outcome.shown:
                    return None
        else:
            form = DecisionForm()
        request_data = step.approval_request or {}
        redactor = request_redactor(request, step.task)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{verb.capitalize()} step '{step.name}'",
            "subtitle": None,
            "original": step,
            "step": step,
            "verb": verb,
            "task_link": admin_link(step.task),
            "status": status_badge(step.status),
            "waiting": step.status == StepStatus.WAITING_FOR_APPROVAL,
            "own_request": step.task.initiator_id == request.user.pk,
            "request_reason": redactor.text(request_data.get("reason")),
            "request_details": details_table(
                redactor.data(request_data.get("details"))
            ),
            "task_context": pretty_json(redactor.data(step.task.context)),
            "form": form,
        }
        return TemplateResponse(request, "admin/workflows/step/decide.html", context)


def details_table(details: Any) -> SafeString | str:
    """Return an approval request's details as a two-column table."""
    if not details:
        return "-"
    if not isinstance(details, dict):
        return pretty_json(details)
    return format_html(
        '<table class="tasker-details">{}</table>',
        format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            ((key, _scalar_or_json(value)) for key, value in details.items()),
        ),
    )


def _scalar_or_json(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    return pretty_json(value)
