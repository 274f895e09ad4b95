"""The admin's forms under malformed and extreme input: never a 5xx, never half-written.

Every form an operator posts — start (generated from a context schema, and
the raw JSON one), resolve, approve and reject, team membership and grants
— gets a few dozen Hypothesis-chosen posts (fixed seed) mixing hand-picked
nasty values with random text, as a logged-in superuser so the posts get
past authorisation to the parsing and the services. Each answer must be
below 500, and a post that does not report success must leave every table
as it was.

The test client sends form data as UTF-8, so a lone surrogate can only
arrive inside JSON (``"\\ud800"``); Django decodes broken UTF-8 in a form as
U+FFFD.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from namespaces.models import Namespace, NamespaceGrant
from namespaces.roles import Role
from tasker_project.core.actors import Actor
from tests.factories import start, step_of
from tests.workflows.helpers import run_ready
from workflows.definitions.loader import parse_spec
from workflows.definitions.sync import definitions_sync
from workflows.models import (
    Step,
    StepTransition,
    Task,
    TaskTransition,
    WorkflowDefinition,
)

pytestmark = pytest.mark.django_db

EXAMPLES = 30

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\r\n",
    "x" * 20_000,
    "9" * 5000,
    "-1",
    "0",
    "1.5",
    "-0",
    "NaN",
    "Infinity",
    "-inf",
    "1e999",
    "null",
    "true",
    "99999999999999999999999",
    "\u202e\ufeff",
    "😀",
    "<script>alert(1)</script>",
    "%00",
    "' OR 1=1 --",
    "SKU-1",
    "ada@example.com",
]
NASTY_JSON = [
    "{}",
    "[]",
    '"text"',
    '{"a": 1',
    '{"a": "\\u0000"}',
    '{"\\u0000": 1}',
    '{"a": "\\ud800"}',
    '{"\\udfff": 1}',
    '["\\udc80"]',
    '{"a": "\\ud83d\\ude00"}',
    '{"a": NaN}',
    '{"a": Infinity}',
    '{"a": -1e999}',
    '{"a": ' + "9" * 5000 + "}",
    '{"a": ' + "9" * 4000 + "}",
    '{"a": ' + "[" * 70 + "]" * 70 + "}",
    "[" * 100_000,
    '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '[{"sku": "SKU-1", "quantity": 1}]',
    '[{"sku": "SKU-1", "quantity": 1e999}]',
    '[{"sku": "\\u0000", "quantity": 1}]',
]
VALUES = st.one_of(
    st.sampled_from(NASTY_TEXT + NASTY_JSON),
    st.text(max_size=30),
)
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def form(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Return posts with any subset of ``fields``, each from its strategy."""
    return st.fixed_dictionaries({}, optional=fields)


def snapshot() -> dict[str, Any]:
    """Return what a refused post must not change."""
    memberships = get_user_model().groups.through.objects
    return {
        "tasks": Task.objects.count(),
        "steps": list(Step.objects.order_by("pk").values_list("status", "results")),
        "task_transitions": TaskTransition.objects.count(),
        "step_transitions": StepTransition.objects.count(),
        # A re-rendered form that shows the task's data unmasked records who
        # saw it (pii.viewed): a read on the trail, not a change.
        "audit": AuditEvent.objects.exclude(action="pii.viewed").count(),
        "grants": NamespaceGrant.objects.count(),
        "memberships": memberships.count(),
    }


def check_post(client: Client, url: str, data: dict[str, Any]) -> None:
    """Post ``data``: below 500, and nothing written unless it reports success."""
    before = snapshot()
    response = client.post(url, data)
    assert response.status_code < 500, (url, data, response.status_code)
    levels = {m.level_tag for m in get_messages(response.wsgi_request)}
    succeeded = "success" in levels or (
        response.status_code == 302 and "/add/" in url and not levels
    )
    if not succeeded:
        assert snapshot() == before, (url, data)


@pytest.fixture
def raw_definition(synced) -> WorkflowDefinition:
    """A workflow whose schema has no properties: its start form is one JSON box."""
    spec = parse_spec(
        {
            "namespace": "testing",
            "name": "raw",
            "version": "1.0.0",
            "context_schema": {"type": "object"},
            "steps": [{"name": "only", "handler": "tests.handlers.Add"}],
        },
        source="test",
    )
    definitions_sync(specs=[spec], actor=Actor.system_actor("test"))
    return WorkflowDefinition.objects.get(name="raw")


def start_url(name: str) -> str:
    definition = WorkflowDefinition.objects.get(namespace__slug="testing", name=name)
    return reverse("admin:workflows_workflowdefinition_start", args=[definition.pk])


START_FORMS = {
    "chain": ["start", "fail", "marker_dir", "sleep"],
    "strict": ["customer_email", "items"],
    "approval": ["start", "note"],
    "raw": [],
}


@pytest.mark.parametrize("workflow", list(START_FORMS))
def test_start_form_survives_fuzzing(admin_client, raw_definition, workflow):
    url = start_url(workflow)
    properties = START_FORMS[workflow] or ["context"]
    fields = {
        **{f"context-{name}": VALUES for name in properties},
        "reason": VALUES,
        "idempotency_key": VALUES,
    }

    @FUZZ
    @given(data=form(fields))
    def run(data: dict[str, Any]) -> None:
        check_post(admin_client, url, data)

    run()


def test_resolve_form_survives_fuzzing(admin_client, synced):
    task = run_ready(start("testing.chain", {"fail": {"first": ["permanent"]}}))
    url = reverse("admin:workflows_step_resolve", args=[step_of(task, "first").pk])

    @FUZZ
    @given(data=form({"results": VALUES, "reason": VALUES}))
    def run(data: dict[str, Any]) -> None:
        check_post(admin_client, url, data)

    run()


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_decision_forms_survive_fuzzing(admin_client, synced, verb):
    task = run_ready(start("testing.approval", {"start": 1}))
    step = step_of(task, "decide")
    assert step.status == "waiting_for_approval"
    url = reverse(f"admin:workflows_step_{verb}", args=[step.pk])

    @FUZZ
    @given(data=form({"comment": VALUES}))
    def run(data: dict[str, Any]) -> None:
        check_post(admin_client, url, data)

    run()


def test_membership_form_survives_fuzzing(admin_client, synced, django_user_model):
    member = django_user_model.objects.create_user("member", is_staff=True)
    namespace = Namespace.objects.get(slug="testing")
    url = reverse("admin:namespaces_namespace_members", args=[namespace.pk])
    roles = st.one_of(st.sampled_from(Role.values), VALUES)
    fields = {
        "op": st.sampled_from(["add", "remove", "", "REMOVE", "\x00"]),
        "username": st.one_of(st.just("member"), VALUES),
        "user": st.one_of(st.just(str(member.pk)), VALUES),
        "role": roles,
    }

    @FUZZ
    @given(data=form(fields))
    def run(data: dict[str, Any]) -> None:
        check_post(admin_client, url, data)

    run()


def test_grant_form_survives_fuzzing(admin_client, synced):
    url = reverse("admin:namespaces_namespacegrant_add")
    ids = [str(pk) for pk in Namespace.objects.values_list("pk", flat=True)]
    namespace = st.one_of(st.sampled_from(ids), VALUES)
    fields = {
        "source": namespace,
        "target": namespace,
        "workflow": st.one_of(st.just("chain"), VALUES),
        "reason": VALUES,
    }

    @FUZZ
    @given(data=form(fields))
    def run(data: dict[str, Any]) -> None:
        check_post(admin_client, url, data)

    run()


# --- regressions: each was a 500 ---------------------------------------------------


@pytest.mark.parametrize(
    "user", ["abc", "1.5", "\x00", "", "99999999999999999999999", "-1"]
)
def test_removing_a_malformed_user_id_is_a_message_not_a_500(
    admin_client, synced, user
):
    """The remove button posts a user id; anything else is refused with a message."""
    namespace = Namespace.objects.get(slug="testing")
    url = reverse("admin:namespaces_namespace_members", args=[namespace.pk])
    before = snapshot()
    response = admin_client.post(url, {"op": "remove", "user": user, "role": "viewer"})
    assert response.status_code == 302
    messages = [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]
    assert messages[0][0] == "error", messages
    assert messages[0][1].startswith("Member not removed: user:"), messages
    assert snapshot() == before


def test_removing_with_an_unknown_role_is_refused(admin_client, synced):
    """The role is checked too: before, a bogus role read as a removal that happened."""
    namespace = Namespace.objects.get(slug="testing")
    admin = get_user_model().objects.get(username="admin")
    response = admin_client.post(
        reverse("admin:namespaces_namespace_members", args=[namespace.pk]),
        {"op": "remove", "user": str(admin.pk), "role": "overlord"},
    )
    messages = [m.message for m in get_messages(response.wsgi_request)]
    assert messages[0].startswith("Member not removed: role:"), messages


UNSTORABLE_JSON = [
    ('{"x": "\\ud800"}', "x: Lone surrogates"),
    ('{"x": NaN}', "x: Numbers must be finite"),
    ('{"x": "\\u0000"}', "x: Null characters"),
    ('{"\\u0000": 1}', "Null characters are not allowed in keys"),
    ("[" * 100_000, "Enter valid JSON"),
    ('{"x": ' + "9" * 5000 + "}", "Enter valid JSON"),
]


@pytest.mark.parametrize(("results", "message"), UNSTORABLE_JSON)
def test_resolve_form_refuses_unstorable_results_on_the_field(
    admin_client, synced, results, message
):
    """Results the database cannot store are a field error (a 500 before)."""
    task = run_ready(start("testing.chain", {"fail": {"first": ["permanent"]}}))
    step = step_of(task, "first")
    before = snapshot()
    response = admin_client.post(
        reverse("admin:workflows_step_resolve", args=[step.pk]),
        {"results": results, "reason": "by hand"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["results"]
    assert any(message in error for error in errors), errors
    assert snapshot() == before


@pytest.mark.parametrize(("value", "message"), UNSTORABLE_JSON)
@pytest.mark.parametrize(("workflow", "field"), [("chain", "fail"), ("raw", "context")])
def test_start_form_refuses_unstorable_json_on_the_field(
    admin_client, raw_definition, workflow, field, value, message
):
    """A JSON box of the start form refuses what the API refuses (a 500 before)."""
    before = snapshot()
    response = admin_client.post(start_url(workflow), {f"context-{field}": value})
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors
    assert snapshot() == before


OBJECT_IDS = [
    "abc",
    "-1",
    "99999999999999999999999",
    "%00",
    "%ED%A0%80",
    "00000000-0000-0000-0000-000000000000",
    "a" * 1000,
]
VIEWS = [
    "workflows_workflowdefinition_start",
    "workflows_step_resolve",
    "workflows_step_retry",
    "workflows_step_approve",
    "workflows_step_reject",
    "workflows_task_cancel",
    "workflows_task_timeline",
    "namespaces_namespace_members",
]


@pytest.mark.parametrize("view", VIEWS)
def test_object_pages_answer_a_malformed_id_below_500(admin_client, synced, view):
    """A garbled object id in the path is a 404 (or a redirect), never a 500."""
    template = reverse(f"admin:{view}", args=["OBJECT"])
    before = snapshot()
    for object_id in OBJECT_IDS:
        url = template.replace("OBJECT", object_id)
        for method in (admin_client.get, admin_client.post):
            response = method(url)
            assert response.status_code < 500, (url, response.status_code)
    assert snapshot() == before
