"""The API refuses what cannot be stored with a 400 naming the field, never a 500.

Raw JSON bodies are sent as text: ``\\ud800`` and ``\\u0000`` are valid JSON
escapes that parse into a lone surrogate and a NUL, which PostgreSQL (and,
for surrogates, SQLite's driver) refuse.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditEvent
from tests.api.conftest import assert_error_body
from tests.factories import UserFactory, start
from tests.workflows.helpers import run_ready
from workflows.models import Step, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(make_user, client_for):
    return client_for(make_user("olga", {"testing": ["operator"]}))


UNSTORABLE = [
    ('{"marker_dir": "\\ud800"}', "context.marker_dir", "Lone surrogates"),
    ('{"\\udfff": 1}', "context.\\udfff", "Lone surrogates are not allowed in keys"),
    ('{"fail": {"first": ["\\u0000"]}}', "context.fail.first.0", "Null characters"),
    ('{"fail": {"\\u0000": []}}', "context.fail.\\u0000", "Null characters"),
    ('{"sleep": -1e400}', "context.sleep", "Numbers must be finite"),
]
IDS = ["surrogate", "surrogate-key", "nul", "nul-key", "infinity"]


@pytest.mark.parametrize(("context", "path", "message"), UNSTORABLE, ids=IDS)
def test_unstorable_context_is_a_400_naming_its_path(operator, context, path, message):
    """A lone surrogate in a context was a 500 (UnicodeEncodeError) on either DB."""
    body = f'{{"namespace": "testing", "workflow": "chain", "context": {context}}}'
    response = operator.post("/api/v1/tasks/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    error = assert_error_body(response)
    assert list(error["fields"]) == [path], error
    assert error["fields"][path][0].startswith(message), error
    assert Task.objects.count() == 0
    assert not AuditEvent.objects.filter(action="task.started").exists()


@pytest.mark.parametrize(("results", "path", "message"), UNSTORABLE, ids=IDS)
def test_unstorable_results_are_a_400_naming_their_path(
    operator, results, path, message
):
    """Resolving with results the database cannot store changes nothing."""
    task = run_ready(start("testing.chain", {"fail": {"first": ["permanent"]}}))
    step = task.steps.get(name="first")
    transitions = step.transitions.count()
    response = operator.post(
        f"/api/v1/tasks/{task.pk}/steps/{step.pk}/resolve/",
        f'{{"results": {results}, "reason": "by hand"}}',
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    error = assert_error_body(response)
    expected = "results" + path.removeprefix("context")
    assert list(error["fields"]) == [expected], error
    assert error["fields"][expected][0].startswith(message), error
    step = Step.objects.get(pk=step.pk)
    assert step.status == "failed"
    assert step.transitions.count() == transitions


def test_refresh_for_a_deleted_user_is_a_401_not_a_500(db):
    """A refresh token outliving its user is refused like an inactive user's."""
    user = UserFactory(username="leaver")
    refresh = str(RefreshToken.for_user(user))
    user.delete()
    outstanding = OutstandingToken.objects.count()
    response = APIClient().post(
        "/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json"
    )
    assert response.status_code == 401, response.content
    error = assert_error_body(response)
    assert error["code"] == "authentication_failed"
    assert "No active account" in error["message"]
    assert OutstandingToken.objects.count() == outstanding  # no new token issued


def test_refresh_for_an_inactive_user_is_still_a_401(db):
    user = UserFactory(username="paused", is_active=False)
    refresh = str(RefreshToken.for_user(user))
    response = APIClient().post(
        "/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json"
    )
    assert response.status_code == 401, response.content
    assert assert_error_body(response)["code"] == "authentication_failed"


def test_refresh_for_a_live_user_still_rotates(db):
    user = UserFactory(username="stays")
    refresh = str(RefreshToken.for_user(user))
    response = APIClient().post(
        "/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json"
    )
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}
    assert response.json()["refresh"] != refresh
