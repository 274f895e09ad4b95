"""The BOLA matrix: every API endpoint and method × every kind of caller.

The endpoints are enumerated from ``workflows.api.urls`` (methods from each
view class), so a new endpoint produces cells at once; the expected status
of each cell is written out literally in ``EXPECTED``, and
``test_every_endpoint_has_a_row`` fails until the new endpoint gets its row.

Every cell builds its own objects in namespace ``crossteam``; the caller
holds one role there, except ``other``, who holds every role in ``testing``
and none in ``crossteam``. A refused call must leave every task and step as
it was, and every 4xx carries the one error body.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import URLPattern, URLResolver
from rest_framework_simplejwt.tokens import RefreshToken

from audit.trail import audit_record
from namespaces.models import Namespace
from tests.api.conftest import PASSWORD, SYSTEM, assert_error_body
from tests.factories import start, step_of
from tests.workflows.helpers import run_ready
from workflows.api import urls as api_urls
from workflows.models import Step, Task

CALLERS = ("anonymous", "other", "viewer", "operator", "approver", "maintainer")
ALL_ROLES = ["viewer", "operator", "approver", "maintainer", "pii_viewer"]

# (url name, method): expected status for each caller, in the order of CALLERS.
# The auth endpoints take no credentials: there "anonymous" presents a wrong
# password or a forged refresh token, every other caller their own.
EXPECTED: dict[tuple[str, str], tuple[int, int, int, int, int, int]] = {
    # anonymous, other, viewer, operator, approver, maintainer
    ("token-obtain", "POST"): (401, 200, 200, 200, 200, 200),
    ("token-refresh", "POST"): (401, 200, 200, 200, 200, 200),
    ("token-revoke", "POST"): (401, 200, 200, 200, 200, 200),
    ("namespace-list", "GET"): (401, 200, 200, 200, 200, 200),
    ("namespace-detail", "GET"): (401, 404, 200, 200, 200, 200),
    ("workflow-list", "GET"): (401, 404, 200, 200, 200, 200),
    ("version-list", "GET"): (401, 404, 200, 200, 200, 200),
    ("version-detail", "GET"): (401, 404, 200, 200, 200, 200),
    ("task-list", "GET"): (401, 200, 200, 200, 200, 200),
    ("task-list", "POST"): (401, 404, 403, 201, 403, 403),
    ("task-detail", "GET"): (401, 404, 200, 200, 200, 200),
    ("task-cancel", "POST"): (401, 404, 403, 200, 403, 403),
    ("task-history", "GET"): (401, 404, 200, 200, 200, 200),
    ("step-detail", "GET"): (401, 404, 200, 200, 200, 200),
    ("step-retry", "POST"): (401, 404, 403, 200, 403, 403),
    ("step-resolve", "POST"): (401, 404, 403, 200, 403, 403),
    ("step-approve", "POST"): (401, 404, 403, 403, 200, 403),
    ("step-reject", "POST"): (401, 404, 403, 403, 200, 403),
    ("approval-list", "GET"): (401, 200, 200, 200, 200, 200),
    # Maintainers only; "other" maintains testing and gets its events alone.
    ("audit-export", "GET"): (401, 200, 403, 403, 403, 200),
}

# Methods every DRF view answers generically (HEAD mirrors GET; OPTIONS
# describes the endpoint and touches no object), so they get no rows.
GENERIC_METHODS = {"head", "options"}


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, type]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "view_class", None)
            assert view_class is not None, f"{pattern} is not a class-based view"
            assert pattern.name, f"{pattern} has no name"
            yield pattern.name, view_class


def enumerate_endpoints() -> list[tuple[str, str]]:
    """Return every (url name, METHOD) the API's URL conf serves."""
    return sorted(
        (name, method.upper())
        for name, view_class in _walk(api_urls.urlpatterns)
        for method in view_class.http_method_names
        if method not in GENERIC_METHODS and hasattr(view_class, method)
    )


ENDPOINTS = enumerate_endpoints()


def reverse_route(name: str) -> str:
    """Return the route of the URL pattern called ``name`` (relative to /api/v1/)."""
    routes = {
        pattern.name: str(pattern.pattern)
        for pattern in api_urls.urlpatterns
        if isinstance(pattern, URLPattern)
    }
    return routes[name]


def test_every_endpoint_has_a_row():
    """A URL pattern without a row in EXPECTED (or a stale row) fails here."""
    enumerated = set(ENDPOINTS)
    assert enumerated - set(EXPECTED) == set(), "endpoints without a row"
    assert set(EXPECTED) - enumerated == set(), "rows without an endpoint"


# --- scenarios: build the objects a cell needs -----------------------------------


@dataclass
class Call:
    url: str
    data: dict[str, Any] | None = None
    mutates: bool = False
    # A string that appears in a 200 body exactly for the callers in ``shown_to``.
    marker: str | None = None
    shown_to: set[str] = field(default_factory=set)


def _in_progress() -> Task:
    return start("crossteam.parent", {"start": 1, "amount": 5})


def _failed() -> Task:
    task = run_ready(
        start(
            "crossteam.parent",
            {"start": 1, "amount": 5, "fail": {"prepare": ["permanent"]}},
        )
    )
    assert task.status == "failed"
    return task


def _waiting() -> Task:
    """A task whose approval step waits; started by the system, not the caller."""
    task = run_ready(start("crossteam.parent", {"start": 1, "amount": 500}))
    assert step_of(task, "review").status == "waiting_for_approval"
    return task


MEMBERS = {"viewer", "operator", "approver", "maintainer"}


def _token_call(path: str) -> Callable[[AbstractBaseUser | None], Call]:
    def build(user: AbstractBaseUser | None) -> Call:
        refresh = str(RefreshToken.for_user(user)) if user else "forged.refresh.token"
        return Call(f"/api/v1/auth/token/{path}", {"refresh": refresh})

    return build


def _token_obtain(user: AbstractBaseUser | None) -> Call:
    if user is None:
        return Call("/api/v1/auth/token/", {"username": "nobody", "password": "wrong"})
    return Call(
        "/api/v1/auth/token/", {"username": user.get_username(), "password": PASSWORD}
    )


def _step_call(
    make_task: Callable[[], Task], step: str, action: str, data: dict[str, Any]
) -> Callable[[AbstractBaseUser | None], Call]:
    def build(user: AbstractBaseUser | None) -> Call:
        task = make_task()
        step_id = step_of(task, step).pk
        return Call(
            f"/api/v1/tasks/{task.pk}/steps/{step_id}/{action}/", data, mutates=True
        )

    return build


def _task_detail(user: AbstractBaseUser | None) -> Call:
    task = _in_progress()
    return Call(f"/api/v1/tasks/{task.pk}/", marker=str(task.pk), shown_to=MEMBERS)


def _step_detail(user: AbstractBaseUser | None) -> Call:
    task = _in_progress()
    step = step_of(task, "prepare")
    return Call(
        f"/api/v1/tasks/{task.pk}/steps/{step.pk}/",
        marker=str(step.pk),
        shown_to=MEMBERS,
    )


def _task_list(user: AbstractBaseUser | None) -> Call:
    task = _in_progress()
    return Call("/api/v1/tasks/", marker=str(task.pk), shown_to=MEMBERS)


def _approval_list(user: AbstractBaseUser | None) -> Call:
    step = step_of(_waiting(), "review")
    return Call("/api/v1/approvals/", marker=str(step.pk), shown_to={"approver"})


def _task_history(user: AbstractBaseUser | None) -> Call:
    return Call(f"/api/v1/tasks/{_in_progress().pk}/history/")


def _audit_export(user: AbstractBaseUser | None) -> Call:
    """An event of crossteam: exported to its maintainer, to nobody else."""
    marker = f"bola-{uuid.uuid4().hex}"
    with transaction.atomic():
        audit_record(
            actor=SYSTEM,
            action="test.marker",
            object_type="marker",
            object_id=marker,
            namespace=Namespace.objects.get(slug="crossteam"),
        )
    return Call("/api/v1/audit/export/", marker=marker, shown_to={"maintainer"})


VERSIONS = "/api/v1/namespaces/crossteam/workflows/parent/versions/"
SCENARIOS: dict[tuple[str, str], Callable[[AbstractBaseUser | None], Call]] = {
    ("token-obtain", "POST"): _token_obtain,
    ("token-refresh", "POST"): _token_call("refresh/"),
    ("token-revoke", "POST"): _token_call("revoke/"),
    ("namespace-list", "GET"): lambda user: Call(
        "/api/v1/namespaces/", marker="crossteam", shown_to=MEMBERS
    ),
    ("namespace-detail", "GET"): lambda user: Call("/api/v1/namespaces/crossteam/"),
    ("workflow-list", "GET"): lambda user: Call(
        "/api/v1/namespaces/crossteam/workflows/"
    ),
    ("version-list", "GET"): lambda user: Call(VERSIONS),
    ("version-detail", "GET"): lambda user: Call(f"{VERSIONS}1.0.0/"),
    ("task-list", "GET"): _task_list,
    ("task-list", "POST"): lambda user: Call(
        "/api/v1/tasks/",
        {
            "namespace": "crossteam",
            "workflow": "parent",
            "context": {"start": 1, "amount": 5},
        },
        mutates=True,
    ),
    ("task-detail", "GET"): _task_detail,
    ("task-history", "GET"): _task_history,
    ("audit-export", "GET"): _audit_export,
    ("task-cancel", "POST"): lambda user: Call(
        f"/api/v1/tasks/{_in_progress().pk}/cancel/", {"reason": "x"}, mutates=True
    ),
    ("step-detail", "GET"): _step_detail,
    ("step-retry", "POST"): _step_call(_failed, "prepare", "retry", {}),
    ("step-resolve", "POST"): _step_call(
        _failed, "prepare", "resolve", {"results": {"value": 1}}
    ),
    ("step-approve", "POST"): _step_call(
        _waiting, "review", "approve", {"comment": "fine"}
    ),
    ("step-reject", "POST"): _step_call(
        _waiting, "review", "reject", {"comment": "too much"}
    ),
    ("approval-list", "GET"): _approval_list,
}


def _snapshot() -> tuple[list, list]:
    """Return every task's and step's state, to prove a refusal changed nothing."""
    return (
        sorted(Task.objects.values_list("id", "status")),
        sorted(Step.objects.values_list("id", "status", "decision", "attempts")),
    )


CELLS = [
    pytest.param(name, method, caller, id=f"{name}-{method}-{caller}")
    for name, method in ENDPOINTS
    for caller in CALLERS
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "caller"), CELLS)
def test_bola_cell(make_user, client_for, name, method, caller):
    """The caller gets exactly the expected status, and a refusal changes nothing."""
    assert (name, method) in EXPECTED, f"no row for {method} {name}"
    expected = EXPECTED[name, method][CALLERS.index(caller)]
    if caller == "anonymous":
        user = None
    elif caller == "other":
        user = make_user("other", {"testing": ALL_ROLES})
    else:
        user = make_user(caller, {"crossteam": [caller], "testing": ["viewer"]})
    call = SCENARIOS[name, method](user)
    before = _snapshot()

    client = client_for(user)
    response = getattr(client, method.lower())(call.url, call.data, format="json")

    assert response.status_code == expected, (
        f"{caller} {method} {call.url}: {response.status_code} {response.content!r}"
    )
    if response.status_code >= 400:
        assert_error_body(response)
    changed = _snapshot() != before
    assert changed == (call.mutates and response.status_code < 300), (
        f"{caller} {method} {name}: state changed={changed}"
    )
    if call.marker is not None and response.status_code == 200:
        shown = call.marker in response.content.decode()
        assert shown == (caller in call.shown_to), (
            f"{caller} {method} {name}: marker shown={shown}"
        )
