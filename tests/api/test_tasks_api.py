"""The tasks endpoints: create, idempotency, validation, listing, limits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.throttling import (
    AnonRateThrottle,
    ScopedRateThrottle,
    UserRateThrottle,
)

from tests.api.conftest import PASSWORD, SYSTEM, assert_error_body
from tests.factories import start
from workflows.models import Step, Task
from workflows.services import task_cancel

pytestmark = pytest.mark.django_db

TASK_KEYS = {
    "id",
    "namespace",
    "workflow",
    "version",
    "status",
    "context",
    "correlation_id",
    "created_at",
    "steps",
}
STEP_KEYS = {"id", "name", "status", "attempts", "depends_on", "results", "error"}
STRICT_CONTEXT = {
    "customer_email": "jane@example.com",
    "items": [{"sku": "SKU-1", "quantity": 2}],
}


@pytest.fixture
def operator(make_user, client_for):
    """A client for an operator of ``testing`` and ``crossteam``."""
    user = make_user("olivia", {"testing": ["operator"], "crossteam": ["operator"]})
    return client_for(user)


def create(client, payload, **headers):
    return client.post("/api/v1/tasks/", payload, format="json", **headers)


# --- create ------------------------------------------------------------------------


def test_create_returns_201_with_the_task_and_its_steps(operator):
    response = create(
        operator,
        {
            "namespace": "testing",
            "workflow": "chain",
            "context": {"start": 3},
            "reason": "api test",
            "tags": ["a", "b"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= TASK_KEYS
    assert body["namespace"] == "testing"
    assert body["workflow"] == "chain"
    assert body["version"] == "1.0.0"
    assert body["status"] == "in_progress"
    assert body["context"] == {"start": 3}
    assert body["correlation_id"]
    assert body["tags"] == ["a", "b"]
    assert [step["name"] for step in body["steps"]] == ["first", "second", "third"]
    for step in body["steps"]:
        assert set(step) >= STEP_KEYS
    assert body["steps"][1]["depends_on"] == ["first"]
    assert body["steps"][0]["status"] == "enqueued"
    assert body["steps"][0]["attempts"] == 0
    assert body["steps"][0]["results"] is None
    assert body["steps"][0]["error"] is None
    assert Task.objects.get(pk=body["id"]).initiator.username == "olivia"


def test_same_idempotency_key_and_payload_returns_the_same_task(operator):
    payload = {"namespace": "testing", "workflow": "chain", "context": {"start": 1}}
    first = create(operator, payload, HTTP_IDEMPOTENCY_KEY="order-42")
    second = create(operator, payload, HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Task.objects.count() == 1


def test_same_idempotency_key_with_another_payload_is_a_conflict(operator):
    payload = {"namespace": "testing", "workflow": "chain", "context": {"start": 1}}
    assert create(operator, payload, HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    response = create(
        operator,
        {**payload, "context": {"start": 2}},
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert response.status_code == 409
    error = assert_error_body(response)
    assert error["code"] == "idempotency_conflict"
    assert Task.objects.count() == 1


@pytest.mark.parametrize("key", ["k" * 201, "a\x00b", "tab\there"])
def test_bad_idempotency_key_is_a_400(operator, key):
    payload = {"namespace": "testing", "workflow": "chain", "context": {}}
    response = create(operator, payload, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in assert_error_body(response)["fields"]
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/test%00ing/",
        "/api/v1/namespaces/testing/workflows/ch%00ain/versions/",
        "/api/v1/namespaces/testing/workflows/chain/versions/1.0.0%00/",
    ],
)
def test_nul_in_a_path_name_is_a_404_not_a_500(viewer, path):
    """PostgreSQL refuses NUL even in a lookup; no name holds one anyway."""
    response = viewer.get(path)
    assert response.status_code == 404
    assert_error_body(response)


def test_invalid_request_lists_every_field(operator):
    """DRF-level problems are all reported together, each under its path."""
    response = create(
        operator,
        {
            "version": "one",
            "context": [1],
            "tags": ["ok", "x" * 51],
            "reason": "r" * 2001,
        },
    )
    assert response.status_code == 400
    error = assert_error_body(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {
        "namespace",
        "workflow",
        "version",
        "context",
        "tags.1",
        "reason",
    }
    assert Task.objects.count() == 0


def test_context_schema_violations_are_listed_by_path(operator):
    """Every JSON Schema violation of the context is reported at context.<path>."""
    response = create(
        operator,
        {
            "namespace": "testing",
            "workflow": "strict",
            "context": {
                "customer_email": 42,
                "items": [{"sku": 7}, {"sku": "SKU-2", "quantity": 0}],
                "extra": True,
            },
        },
    )
    assert response.status_code == 400
    error = assert_error_body(response)
    assert error["code"] == "invalid_context"
    fields = error["fields"]
    assert {
        "context.customer_email",
        "context.items.0.sku",
        "context.items.0.quantity",
        "context.items.1.quantity",
        "context",
    } <= set(fields), fields
    assert fields["context.items.0.quantity"] == ["This field is required."]
    assert Task.objects.count() == 0


def test_unknown_workflow_is_a_404_naming_the_field(operator):
    response = create(
        operator, {"namespace": "testing", "workflow": "nope", "context": {}}
    )
    assert response.status_code == 404
    assert "workflow" in assert_error_body(response)["fields"]


@pytest.mark.parametrize(
    ("context", "path", "message"),
    [
        ('{"sleep": 1e999}', "context.sleep", "Numbers must be finite."),
        ('{"marker_dir": "a\\u0000b"}', "context.marker_dir", "Null characters"),
        ('{"x": ' + "[" * 70 + "]" * 70 + "}", "context.x.", "Nested deeper"),
    ],
    ids=["infinite-number", "nul-character", "deep-nesting"],
)
def test_unstorable_context_is_a_400_not_a_500(operator, context, path, message):
    """JSON the database cannot store is refused at the edge, by field path."""
    body = f'{{"namespace": "testing", "workflow": "chain", "context": {context}}}'
    response = operator.post("/api/v1/tasks/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    fields = assert_error_body(response)["fields"]
    [(key, messages)] = fields.items()
    assert key.startswith(path), fields
    assert messages[0].startswith(message), fields
    assert Task.objects.count() == 0


def test_json_nested_beyond_the_parser_is_a_400(operator):
    """A body nested deeper than the JSON parser's recursion is a parse error."""
    body = '{"context": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    response = operator.post("/api/v1/tasks/", body, content_type="application/json")
    assert response.status_code == 400
    assert assert_error_body(response)["code"] == "parse_error"


def test_unstorable_results_are_refused_on_resolve(operator):
    from tests.workflows.helpers import run_ready

    task = run_ready(start("testing.chain", {"fail": {"first": ["permanent"]}}))
    step = task.steps.get(name="first")
    response = operator.post(
        f"/api/v1/tasks/{task.pk}/steps/{step.pk}/resolve/",
        '{"results": {"value": -1e400}}',
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert list(assert_error_body(response)["fields"]) == ["results.value"]
    step.refresh_from_db()
    assert step.status == "failed"


# --- list, filters, pagination -------------------------------------------------------


@pytest.fixture
def viewer(make_user, client_for):
    user = make_user("vera", {"testing": ["viewer"], "crossteam": ["viewer"]})
    return client_for(user)


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [task["id"] for task in response.json()["results"]]


def test_list_filters(viewer):
    now = timezone.now()
    chain = start("testing.chain")
    diamond = start("testing.diamond")
    parent = start("crossteam.parent", {"start": 1})
    cancelled = start("testing.chain")
    task_cancel(task=cancelled, actor=SYSTEM)
    Task.objects.filter(pk=chain.pk).update(created_at=now - timedelta(days=3))
    Task.objects.filter(pk=diamond.pk).update(created_at=now - timedelta(days=2))

    def ids(**query):
        return set(_ids(viewer.get("/api/v1/tasks/", query)))

    every = {str(t.pk) for t in (chain, diamond, parent, cancelled)}
    assert ids() == every
    assert ids(namespace="crossteam") == {str(parent.pk)}
    assert ids(namespace="testing", workflow="chain") == {
        str(chain.pk),
        str(cancelled.pk),
    }
    assert ids(status="cancelled") == {str(cancelled.pk)}
    assert ids(status="in_progress") == every - {str(cancelled.pk)}
    cutoff = (now - timedelta(days=1)).isoformat()
    assert ids(created_after=cutoff) == {str(parent.pk), str(cancelled.pk)}
    assert ids(created_before=cutoff) == {str(chain.pk), str(diamond.pk)}
    assert ids(namespace="no-such-namespace") == set()


def test_a_list_item_is_a_summary_with_step_counts_and_no_steps(viewer):
    """A page carries each task's fields and its steps counted by status; the
    steps themselves are on the task's detail."""
    task = start("testing.chain")
    step = task.steps.get(name="first")
    Step.objects.filter(pk=step.pk).update(status="complete")
    start("testing.diamond")
    response = viewer.get("/api/v1/tasks/", {"workflow": "chain"})
    assert response.status_code == 200, response.content
    [item] = response.json()["results"]
    assert set(item) >= TASK_KEYS - {"steps"} | {"step_counts"}
    assert "steps" not in item
    assert list(item["step_counts"].items()) == [("pending", 2), ("complete", 1)]
    detail = viewer.get(f"/api/v1/tasks/{task.pk}/").json()
    assert detail["step_counts"] == item["step_counts"]
    assert {k: v for k, v in detail.items() if k not in ("steps", "transitions")} == (
        item
    )


def test_invalid_filters_are_a_400_listing_each(viewer):
    response = viewer.get(
        "/api/v1/tasks/",
        {"status": "sleeping", "created_after": "yesterday", "page_size": "0"},
    )
    assert response.status_code == 400
    assert set(assert_error_body(response)["fields"]) == {
        "status",
        "created_after",
        "page_size",
    }


def test_empty_filter_values_are_refused_not_ignored(viewer):
    """`?status=` is invalid input, not "no filter" (DRF's form convention)."""
    response = viewer.get("/api/v1/tasks/?status=&created_before=&namespace=")
    assert response.status_code == 400
    assert set(assert_error_body(response)["fields"]) == {
        "status",
        "created_before",
        "namespace",
    }


def test_page_size_above_the_maximum_is_refused(viewer):
    response = viewer.get("/api/v1/tasks/", {"page_size": "201"})
    assert response.status_code == 400
    assert list(assert_error_body(response)["fields"]) == ["page_size"]


def test_cursor_pagination_visits_every_task_once(viewer):
    tasks = [start("testing.chain") for _ in range(7)]
    now = timezone.now()
    for offset, task in enumerate(tasks):
        # Distinct, known creation times; two share one to exercise the tie-break.
        seconds = offset if offset != 4 else 3
        Task.objects.filter(pk=task.pk).update(
            created_at=now - timedelta(seconds=seconds)
        )
    seen: list[str] = []
    url = "/api/v1/tasks/?page_size=3"
    pages = 0
    while url:
        response = viewer.get(url)
        seen += _ids(response)
        url = response.json()["next"]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == {str(t.pk) for t in tasks}
    assert seen[0] == str(tasks[0].pk)  # newest first


def test_bad_cursor_is_a_404_error_body(viewer):
    response = viewer.get("/api/v1/tasks/", {"cursor": "garbage"})
    assert response.status_code == 404
    assert_error_body(response)


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/tasks/")
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_tasks(viewer):
    """Listing 10 or 60 tasks (a full page of 50) costs the same queries."""
    for _ in range(10):
        start("testing.chain")
    small = _list_queries(viewer)
    for _ in range(50):
        start("testing.diamond")
    large = _list_queries(viewer)
    assert large == small, f"10 tasks: {small} queries, 60 tasks: {large}"


# --- personal data -----------------------------------------------------------------


def test_personal_data_is_masked_without_pii_viewer(make_user, client_for):
    task = start("testing.strict", STRICT_CONTEXT)
    viewer = client_for(make_user("vera", {"testing": ["viewer"]}))
    pii = client_for(make_user("pia", {"testing": ["viewer", "pii_viewer"]}))

    masked = viewer.get(f"/api/v1/tasks/{task.pk}/").json()
    assert masked["context"]["customer_email"] == "j***@example.com"
    listed = viewer.get("/api/v1/tasks/").json()["results"][0]
    assert listed["context"]["customer_email"] == "j***@example.com"
    assert b"jane@example.com" not in viewer.get("/api/v1/tasks/").content

    clear = pii.get(f"/api/v1/tasks/{task.pk}/").json()
    assert clear["context"]["customer_email"] == "jane@example.com"


# --- limits and error bodies --------------------------------------------------------


def test_oversized_body_is_a_413_error_body(operator, settings):
    payload = {
        "namespace": "testing",
        "workflow": "chain",
        "context": {"blob": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)},
    }
    response = create(operator, payload)
    assert response.status_code == 413
    assert assert_error_body(response)["code"] == "request_too_large"
    assert Task.objects.count() == 0


def test_a_reason_longer_than_allowed_is_refused_even_if_mostly_whitespace(operator):
    """maxLength counts the text as sent, not after DRF trims it."""
    task = start("testing.chain")
    response = operator.post(
        f"/api/v1/tasks/{task.pk}/cancel/",
        {"reason": "\r" * 2000 + "x"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(assert_error_body(response)["fields"]) == ["reason"]
    response = operator.post(
        f"/api/v1/tasks/{task.pk}/cancel/", {"reason": "  done  "}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.fixture
def low_rates(monkeypatch):
    """Throttle at 3 requests a minute; DRF reads the rates at class level."""
    rates = {"user": "3/min", "anon": "3/min", "auth": "3/min"}
    for cls in (UserRateThrottle, AnonRateThrottle, ScopedRateThrottle):
        monkeypatch.setattr(cls, "THROTTLE_RATES", rates)
    cache.clear()
    yield
    cache.clear()


def test_user_is_throttled_with_the_error_body(viewer, low_rates):
    for _ in range(3):
        assert viewer.get("/api/v1/namespaces/").status_code == 200
    response = viewer.get("/api/v1/namespaces/")
    assert response.status_code == 429
    assert assert_error_body(response)["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_password_guessing_is_throttled(api, make_user, low_rates):
    make_user("alice")
    for _ in range(3):
        response = api.post(
            "/api/v1/auth/token/",
            {"username": "alice", "password": "guess"},
            format="json",
        )
        assert response.status_code == 401
    response = api.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 429
    assert_error_body(response)


@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/nothing", "/api/v1/tasks/x/y/"]
)
def test_unknown_api_path_is_a_json_404(viewer, path):
    response = viewer.get(path)
    assert response.status_code == 404
    assert assert_error_body(response)["code"] == "not_found"


def test_unknown_task_is_a_404(viewer):
    for task_id in ("not-a-uuid", "01a21b31-f926-7f23-95e9-f81062e50408"):
        response = viewer.get(f"/api/v1/tasks/{task_id}/")
        assert response.status_code == 404
        assert_error_body(response)


def test_malformed_json_is_a_400_error_body(operator):
    response = operator.post(
        "/api/v1/tasks/", '{"namespace": "testing",', content_type="application/json"
    )
    assert response.status_code == 400
    assert assert_error_body(response)["code"] == "parse_error"


def test_wrong_content_type_is_a_415_error_body(operator):
    body = json.dumps({"namespace": "testing", "workflow": "chain", "context": {}})
    response = operator.post("/api/v1/tasks/", body, content_type="text/plain")
    assert response.status_code == 415
    assert assert_error_body(response)["code"] == "unsupported_media_type"


def test_unsupported_method_is_a_405_error_body(viewer):
    response = viewer.delete("/api/v1/tasks/")
    assert response.status_code == 405
    assert assert_error_body(response)["code"] == "method_not_allowed"
