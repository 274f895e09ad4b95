"""The Django admin: every page renders, and its actions call the services.

Steps are driven in-process with ``execute_step`` (no worker): the admin only
reads runs and calls services, so what matters is the state it finds and
leaves, not who ran the handler.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db.models import Model
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from namespaces.models import Namespace
from tests.factories import start, step_of
from workflows.engine.executor import execute_step
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import (
    Step,
    StepEdge,
    StepTemplate,
    StepTransition,
    Task,
    TaskTransition,
    WorkflowDefinition,
)

pytestmark = pytest.mark.django_db

ALL_MODELS = [
    Namespace,
    WorkflowDefinition,
    StepTemplate,
    Task,
    Step,
    StepEdge,
    TaskTransition,
    StepTransition,
    AuditEvent,
]
HISTORY_MODELS = [TaskTransition, StepTransition, AuditEvent]


def admin_url(model: type[Model] | Model, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def messages_of(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def failed_chain() -> Task:
    """Return a testing.chain task whose first step failed permanently."""
    task = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
    execute_step(step_of(task, "first").pk)
    assert step_of(task, "first").status == StepStatus.FAILED
    return task


@pytest.fixture
def runs(synced) -> dict[str, Task]:
    """One failed chain, one chain with a complete first step, one diamond."""
    running = start("testing.chain", {"start": 1})
    execute_step(step_of(running, "first").pk)
    return {
        "failed": failed_chain(),
        "running": running,
        "diamond": start("testing.diamond", {"start": 1}),
    }


class TestPagesRender:
    @pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
    def test_changelist_and_change_page_render_with_data(
        self, admin_client, runs, model
    ):
        """Each model's list and the page of one of its rows render (no 500)."""
        assert model.objects.exists()
        listing = admin_client.get(admin_url(model, "changelist"))
        assert listing.status_code == 200
        obj = model.objects.first()
        page = admin_client.get(admin_url(model, "change", obj.pk))
        assert page.status_code == 200

    def test_changelists_search_and_filter_without_error(self, admin_client, runs):
        """A free-text search (not a UUID) on UUID-searching lists is no 500."""
        for model in (Task, Step, TaskTransition, StepTransition, AuditEvent):
            response = admin_client.get(admin_url(model, "changelist"), {"q": "first"})
            assert response.status_code == 200
        task = runs["failed"]
        response = admin_client.get(admin_url(Task, "changelist"), {"q": str(task.pk)})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [task]

    def test_definition_page_shows_the_dag_and_a_start_button(self, admin_client, runs):
        definition = WorkflowDefinition.objects.get(name="diamond")
        response = admin_client.get(admin_url(definition, "change", definition.pk))
        body = response.content.decode()
        assert admin_url(definition, "start", definition.pk) in body
        for template in definition.step_templates.all():
            assert template.name in body
            assert template.handler in body

    def test_definition_changelist_links_each_version_to_its_start_form(
        self, admin_client, runs
    ):
        definition = WorkflowDefinition.objects.get(name="chain")
        response = admin_client.get(admin_url(WorkflowDefinition, "changelist"))
        assert (
            admin_url(definition, "start", definition.pk) in response.content.decode()
        )

    def test_task_page_lists_steps_in_definition_order_with_links(
        self, admin_client, runs
    ):
        task = runs["running"]
        response = admin_client.get(admin_url(Task, "change", task.pk))
        body = response.content.decode()
        positions = [
            body.index(admin_url(Step, "change", step_of(task, n).pk))
            for n in ("first", "second", "third")
        ]
        assert positions == sorted(positions)
        assert "1/3" in body  # attempts/max_attempts of the first step

    def test_running_task_page_refreshes_itself_and_stopped_ones_do_not(
        self, admin_client, runs
    ):
        running = admin_client.get(admin_url(Task, "change", runs["running"].pk))
        assert 'id="tasker-refresh"' in running.content.decode()
        Task.objects.filter(pk=runs["running"].pk).update(status=TaskStatus.COMPLETE)
        finished = admin_client.get(admin_url(Task, "change", runs["running"].pk))
        assert 'id="tasker-refresh"' not in finished.content.decode()
        failed = admin_client.get(admin_url(Task, "change", runs["failed"].pk))
        assert 'id="tasker-refresh"' not in failed.content.decode()

    def test_failed_step_page_shows_traceback_and_resolve_link(
        self, admin_client, runs
    ):
        step = step_of(runs["failed"], "first")
        body = admin_client.get(admin_url(Step, "change", step.pk)).content.decode()
        assert "<pre" in body and "Traceback" in body
        assert "injected permanent fault" in body
        assert admin_url(Step, "resolve", step.pk) in body
        assert admin_url(Step, "retry", step.pk) in body

    def test_complete_step_page_offers_neither_resolve_nor_retry(
        self, admin_client, runs
    ):
        step = step_of(runs["running"], "first")
        body = admin_client.get(admin_url(Step, "change", step.pk)).content.decode()
        assert admin_url(Step, "resolve", step.pk) not in body
        assert admin_url(Step, "retry", step.pk) not in body

    def test_step_page_links_the_steps_it_depends_on(self, admin_client, runs):
        task = runs["running"]
        second = step_of(task, "second")
        body = admin_client.get(admin_url(Step, "change", second.pk)).content.decode()
        assert admin_url(Step, "change", step_of(task, "first").pk) in body


class TestReadOnly:
    @pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda m: m.__name__)
    def test_history_offers_no_add_change_or_delete(self, admin_client, runs, model):
        """Transitions and audit events are append-only in the admin too."""
        request = RequestFactory().get("/")
        request.user = admin_client.get("/admin/").wsgi_request.user
        model_admin = admin.site._registry[model]
        obj = model.objects.first()
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, obj)
        assert not model_admin.has_delete_permission(request, obj)
        assert "delete_selected" not in model_admin.get_actions(request)
        assert admin_client.get(admin_url(model, "add")).status_code == 403
        delete = admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"})
        assert delete.status_code == 403
        assert model.objects.filter(pk=obj.pk).exists()

    @pytest.mark.parametrize("model", [Task, Step], ids=lambda m: m.__name__)
    def test_runs_cannot_be_edited_through_a_form(self, admin_client, runs, model):
        """Posting a status to a task or step page changes nothing."""
        obj = model.objects.first()
        before = obj.status
        response = admin_client.post(
            admin_url(model, "change", obj.pk), {"status": "complete"}
        )
        assert response.status_code == 403
        obj.refresh_from_db()
        assert obj.status == before
        assert admin_client.get(admin_url(model, "add")).status_code == 403


class TestStartTask:
    """The start form is generated from the definition's context schema.

    Its context fields carry the ``context-`` prefix; reason and idempotency
    key are separate fields.
    """

    def start_url(self, name: str = "chain") -> str:
        definition = WorkflowDefinition.objects.get(
            namespace__slug="testing", name=name
        )
        return admin_url(definition, "start", definition.pk)

    def test_form_has_a_field_per_property_prefilled_from_the_example(
        self, admin_client, synced
    ):
        response = admin_client.get(self.start_url())
        assert response.status_code == 200
        form = response.context["form"]
        # No required properties: all alphabetical, the same on every database.
        assert list(form.fields) == ["fail", "marker_dir", "sleep", "start"]
        assert form["start"].value() == 1
        assert 'name="context-start"' in response.content.decode()

    def test_valid_input_starts_a_task_and_shows_its_page(self, admin_client, synced):
        response = admin_client.post(
            self.start_url(),
            {"context-start": "5", "reason": "smoke test", "idempotency_key": ""},
        )
        task = Task.objects.get()
        assert response.status_code == 302
        assert response.url == admin_url(Task, "change", task.pk)
        assert task.context == {"start": 5}  # empty optional fields are left out
        assert task.reason == "smoke test"
        assert task.initiator.username == "admin"
        assert task.idempotency_key is None
        assert ("success", f"Started task {task.pk}.") in messages_of(response)

    def test_a_value_of_the_wrong_type_is_an_error_on_its_field(
        self, admin_client, synced
    ):
        response = admin_client.post(self.start_url(), {"context-start": "one"})
        assert response.status_code == 200
        assert response.context["form"].errors["start"]
        assert Task.objects.count() == 0

    def test_schema_errors_inside_a_json_field_are_shown_on_that_field(
        self, admin_client, synced
    ):
        """The service's ``context.items.0.sku`` error lands on the items field."""
        response = admin_client.post(
            self.start_url("strict"),
            {
                "context-customer_email": "ada@example.com",
                "context-items": '[{"sku": "nope", "quantity": 1}]',
            },
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert any(e.startswith("0.sku: ") for e in errors["items"])
        assert Task.objects.count() == 0

    def test_missing_required_property_is_an_error_on_its_field(
        self, admin_client, synced
    ):
        response = admin_client.post(self.start_url("strict"), {})
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert errors["customer_email"] == ["This field is required."]
        assert errors["items"] == ["This field is required."]
        assert Task.objects.count() == 0

    @pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
    def test_a_json_field_that_is_not_the_right_json_is_a_form_error(
        self, admin_client, synced, text
    ):
        response = admin_client.post(self.start_url(), {"context-fail": text})
        assert response.status_code == 200
        assert response.context["form"].errors["fail"]
        assert Task.objects.count() == 0

    def test_same_idempotency_key_returns_the_first_task(self, admin_client, synced):
        data = {"context-start": "2", "idempotency_key": "admin-key-1"}
        first = admin_client.post(self.start_url(), data)
        again = admin_client.post(self.start_url(), data)
        task = Task.objects.get()
        assert first.url == again.url == admin_url(Task, "change", task.pk)

    def test_deprecated_version_refuses_new_starts(self, admin_client, synced):
        WorkflowDefinition.objects.filter(name="chain").update(
            is_default=False, deprecated=True
        )
        page = admin_client.get(self.start_url())
        assert "deprecated" in page.content.decode()
        response = admin_client.post(self.start_url(), {"context-start": "1"})
        assert response.status_code == 200
        assert "deprecated" in " ".join(response.context["form"].non_field_errors())
        assert Task.objects.count() == 0


class TestActions:
    def test_cancel_action_cancels_each_selected_task(self, admin_client, runs):
        tasks = [runs["running"], runs["diamond"]]
        response = admin_client.post(
            admin_url(Task, "changelist"),
            {"action": "cancel_selected", "_selected_action": [t.pk for t in tasks]},
        )
        assert response.status_code == 302
        for task in tasks:
            task.refresh_from_db()
            assert task.status == TaskStatus.CANCELLED
        assert sum(level == "success" for level, _ in messages_of(response)) == 2

    def test_cancel_action_reports_a_refusal_without_error(self, admin_client, runs):
        task = runs["running"]
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.COMPLETE)
        response = admin_client.post(
            admin_url(Task, "changelist"),
            {"action": "cancel_selected", "_selected_action": [task.pk]},
            follow=True,
        )
        assert response.status_code == 200
        [(level, message)] = messages_of(response)
        assert level == "error"
        assert "cannot be cancelled" in message

    def test_cancel_button_on_the_task_page_cancels_it(self, admin_client, runs):
        task = runs["diamond"]
        response = admin_client.post(admin_url(Task, "cancel", task.pk))
        assert response.url == admin_url(Task, "change", task.pk)
        task.refresh_from_db()
        assert task.status == TaskStatus.CANCELLED

    def test_retry_action_re_enqueues_a_failed_step(self, admin_client, runs):
        step = step_of(runs["failed"], "first")
        response = admin_client.post(
            admin_url(Step, "changelist"),
            {"action": "retry_selected", "_selected_action": [step.pk]},
        )
        assert response.status_code == 302
        step.refresh_from_db()
        assert step.status == StepStatus.ENQUEUED
        assert step.max_attempts > step.attempts
        assert Task.objects.get(pk=step.task_id).status == TaskStatus.IN_PROGRESS
        [(level, _)] = messages_of(response)
        assert level == "success"

    def test_retry_action_refuses_a_complete_step_with_a_message(
        self, admin_client, runs
    ):
        step = step_of(runs["running"], "first")
        response = admin_client.post(
            admin_url(Step, "changelist"),
            {"action": "retry_selected", "_selected_action": [step.pk]},
            follow=True,
        )
        assert response.status_code == 200
        step.refresh_from_db()
        assert step.status == StepStatus.COMPLETE
        [(level, message)] = messages_of(response)
        assert level == "error"
        assert "only a failed step can be retried" in message


class TestResolveStep:
    def test_form_renders_for_a_failed_step(self, admin_client, runs):
        step = step_of(runs["failed"], "first")
        response = admin_client.get(admin_url(Step, "resolve", step.pk))
        assert response.status_code == 200
        assert "injected permanent fault" in response.content.decode()

    def test_resolving_a_failed_step_resumes_its_task(self, admin_client, runs):
        task = runs["failed"]
        step = step_of(task, "first")
        response = admin_client.post(
            admin_url(Step, "resolve", step.pk),
            {"results": '{"value": 42}', "reason": "fixed by hand"},
        )
        assert response.status_code == 302
        assert response.url == admin_url(Step, "change", step.pk)
        step.refresh_from_db()
        assert step.status == StepStatus.RESOLVED_MANUALLY
        assert step.results == {"value": 42}
        assert step_of(task, "second").status == StepStatus.ENQUEUED
        assert AuditEvent.objects.filter(
            action="step.resolved", object_id=str(step.pk), actor_label="admin"
        ).exists()

    @pytest.mark.parametrize("text", ["{oops", "[]", "42"])
    def test_bad_json_is_a_field_error_not_a_500(self, admin_client, runs, text):
        step = step_of(runs["failed"], "first")
        response = admin_client.post(
            admin_url(Step, "resolve", step.pk), {"results": text, "reason": "x"}
        )
        assert response.status_code == 200
        assert response.context["form"].errors["results"]
        step.refresh_from_db()
        assert step.status == StepStatus.FAILED

    def test_resolving_a_complete_step_is_refused_on_the_form(self, admin_client, runs):
        step = step_of(runs["running"], "first")
        response = admin_client.post(
            admin_url(Step, "resolve", step.pk), {"results": "{}", "reason": "x"}
        )
        assert response.status_code == 200
        assert "only a pending or failed step" in " ".join(
            response.context["form"].non_field_errors()
        )
        step.refresh_from_db()
        assert step.status == StepStatus.COMPLETE


def test_custom_views_answer_404_for_unknown_objects(admin_client, synced):
    """A mistyped id in a start, resolve, retry or cancel URL is a 404, not a 500."""
    assert (
        admin_client.get(admin_url(WorkflowDefinition, "start", 999999)).status_code
        == 404
    )
    assert admin_client.get(admin_url(Step, "resolve", "not-a-uuid")).status_code == 404
    assert admin_client.post(admin_url(Step, "retry", "not-a-uuid")).status_code == 404
    assert admin_client.post(admin_url(Task, "cancel", "not-a-uuid")).status_code == 404
    assert admin_client.get(admin_url(Task, "cancel", "not-a-uuid")).status_code == 405
