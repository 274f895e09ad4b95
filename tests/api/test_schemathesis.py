"""schemathesis against a live server: every operation, positive and negative.

The schema is fetched from the running server's ``/api/schema/``, exactly
as a client sees it. Each operation is fuzzed with valid (positive) and
invalid (negative) requests from a fixed seed (Hypothesis ``derandomize``),
authenticated as an operator, approver and PII viewer of both test
namespaces, with about half the cases aimed at objects that exist so the
calls get past the 404. Every response must be no 5xx, conform to the
documented status codes, content types and schemas, and invalid input must
be refused with a 4xx.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import ALL_ROLES_ANYWHERE, PASSWORD
from tests.api.test_bola_matrix import ENDPOINTS, reverse_route
from tests.factories import start, step_of
from tests.workflows.helpers import run_ready
from workflows.models import Step

MAX_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Namespace, workflow and version triples that exist after ``synced``.
WORKFLOWS = [
    ("crossteam", "parent", "1.0.0"),
    ("testing", "strict", "1.0.0"),
    ("testing", "chain", "1.0.0"),
]


SCHEMA = SchemaGenerator().get_schema(request=None, public=True)


def _operations() -> list[tuple[str, str]]:
    """Return (METHOD, path) of every operation the API schema documents."""
    return sorted(
        (method.upper(), path)
        for path, item in SCHEMA["paths"].items()
        for method in item
        if path.startswith("/api/v1/")
    )


OPERATIONS = _operations()


@pytest.fixture
def fuzz_world(transactional_db, synced, make_user, live_server) -> dict[str, Any]:
    """Data worth hitting, a user allowed almost everything, and the live schema."""
    user = make_user("fuzzer", ALL_ROLES_ANYWHERE)
    in_progress = [start("crossteam.parent", {"start": 1}) for _ in range(3)]
    waiting = [
        run_ready(start("crossteam.parent", {"start": 1, "amount": 500}))
        for _ in range(3)
    ]
    failed = [
        run_ready(start("testing.chain", {"fail": {"first": ["permanent"]}}))
        for _ in range(3)
    ]
    strict = start(
        "testing.strict",
        {
            "customer_email": "jane@example.com",
            "items": [{"sku": "SKU-1", "quantity": 1}],
        },
    )
    for task in waiting:
        assert step_of(task, "review").status == "waiting_for_approval"
    for task in failed:
        assert task.status == "failed"
    every = [*in_progress, *waiting, *failed, strict]
    config = schemathesis.Config.from_dict(
        {
            "generation": {
                "deterministic": True,
                "max-examples": MAX_EXAMPLES,
                # We send a real token; a generated Authorization would be replaced.
                "with-security-parameters": False,
            }
        }
    )
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/", config=config
    )
    return {
        "schema": schema,
        "base_url": live_server.url,
        "user": user,
        "headers": {"Authorization": f"Bearer {AccessToken.for_user(user)}"},
        "tasks": [str(t.pk) for t in every],
        "steps": [
            (str(t), str(s))
            for t, s in Step.objects.filter(task__in=every).values_list("task_id", "id")
        ],
        "waiting": [(str(t.pk), str(step_of(t, "review").pk)) for t in waiting],
        "failed": [(str(t.pk), str(step_of(t, "first").pk)) for t in failed],
    }


def _known_path_parameters(operation: Any, world: dict[str, Any]) -> list[dict]:
    """Return path parameters naming objects that exist (and suit the action)."""
    names = {p.name for p in operation.path_parameters}
    if not names:
        return []
    if names == {"task_id", "step_id"}:
        pairs = {
            "approve": world["waiting"],
            "reject": world["waiting"],
            "retry": world["failed"],
            "resolve": world["failed"],
        }.get(operation.path.rstrip("/").rsplit("/", 1)[-1], world["steps"])
        return [{"task_id": t, "step_id": s} for t, s in pairs]
    if names == {"task_id"}:
        return [{"task_id": t} for t in world["tasks"]]
    combos = []
    for slug, name, version in WORKFLOWS:
        full = {"slug": slug, "name": name, "version": version}
        combos.append({key: full[key] for key in names})
    assert all(set(c) == names for c in combos), names
    return combos


def _steer_start(case: Any, world: dict[str, Any], pick: int) -> Any:
    """Aim a generated task start at a real workflow, keeping the rest fuzzed."""
    if isinstance(case.body, dict):
        slug, name, _ = WORKFLOWS[pick % len(WORKFLOWS)]
        case.body = {**case.body, "namespace": slug, "workflow": name}
        case.body.pop("version", None)
        if pick % 2:
            case.body["context"] = {"start": pick}
    return case


def _steer_login(case: Any, world: dict[str, Any], pick: int) -> Any:
    """Let some logins use the real credentials."""
    if isinstance(case.body, dict):
        case.body = {"username": world["user"].get_username(), "password": PASSWORD}
    return case


def _steer_refresh(case: Any, world: dict[str, Any], pick: int) -> Any:
    """Let some refreshes and revocations present a real refresh token."""
    if isinstance(case.body, dict):
        case.body = {"refresh": str(RefreshToken.for_user(world["user"]))}
    return case


# Strings no database column stores. Hypothesis's text never holds a lone
# surrogate, so schemathesis never sends one unless told to: these reach the
# server as JSON escapes (``"\\ud800"``), parse, and must be refused by field.
UNSTORABLE_TEXT = ["\x00", "a\x00b", "\ud800", "\udfff", "x\udc80y"]
# Every field a request body of the API declares.
BODY_FIELDS = {
    "namespace",
    "workflow",
    "context",
    "reason",
    "tags",
    "results",
    "comment",
    "username",
    "password",
    "refresh",
}


def _poison(value: Any, bad: str, pick: int) -> Any:
    """Return ``value`` with ``bad`` put into it (as text, a key or an item)."""
    if isinstance(value, str):
        return value + bad
    if isinstance(value, dict):
        inner = {**value, "marker_dir": bad} if pick % 2 else {**value, bad: 1}
        return {**inner, "fail": {"first": [bad]}} if pick % 3 == 0 else inner
    if isinstance(value, list):
        return [*value, bad]
    return value


def _steer_unstorable(case: Any, world: dict[str, Any], pick: int) -> Any:
    """Put an unstorable string into one field of the body.

    Only one field, and a JSON object field (``context``, ``results``) two
    times in three, so the rest of the request can be valid and reach the
    code that would store it; a start is aimed at ``testing.chain``, whose
    schema takes any ``marker_dir`` string and ``fail`` object.
    """
    if not isinstance(case.body, dict):
        return case
    # Declared fields only: an undeclared one is ignored, so it proves nothing.
    body = {k: v for k, v in case.body.items() if k in BODY_FIELDS} or {"reason": ""}
    if "context" in body:
        body.update(namespace="testing", workflow="chain", context={"start": 1})
        body.pop("version", None)
    bad = UNSTORABLE_TEXT[pick % len(UNSTORABLE_TEXT)]
    objects = sorted(k for k, v in body.items() if isinstance(v, dict))
    fields = objects if objects and pick % 3 else sorted(body)
    field = fields[pick % len(fields)]
    # Sent as encoded JSON: schemathesis's own validator cannot hold a lone
    # surrogate, and ``json.dumps`` escapes it (``"\\udfff"``) as a client would.
    case.body = json.dumps({**body, field: _poison(body[field], bad, pick)}).encode()
    return case


STEERS = {
    ("POST", "/api/v1/tasks/"): _steer_start,
    ("POST", "/api/v1/auth/token/"): _steer_login,
    ("POST", "/api/v1/auth/token/refresh/"): _steer_refresh,
    ("POST", "/api/v1/auth/token/revoke/"): _steer_refresh,
}


def _strategy(operation: Any, mode: GenerationMode, world: dict[str, Any]):
    generated = operation.as_strategy(generation_mode=mode)
    strategies = [generated]
    known = _known_path_parameters(operation, world)
    if known:
        strategies.append(
            st.sampled_from(known).flatmap(
                lambda params: operation.as_strategy(
                    generation_mode=mode, path_parameters=params
                )
            )
        )
    steer = STEERS.get((operation.method.upper(), operation.path))
    if steer is not None and mode == GenerationMode.POSITIVE:
        strategies.append(
            st.tuples(generated, st.integers(0, 5)).map(
                lambda pair: steer(pair[0], world, pair[1])
            )
        )
    if len(operation.body) and mode == GenerationMode.POSITIVE:
        # Valid requests (steered, at objects that exist) with one field poisoned.
        aimed = strategies[-1] if steer is not None or known else generated
        strategies.append(
            st.tuples(aimed, st.integers(0, 29)).map(
                lambda pair: _steer_unstorable(pair[0], world, pair[1])
            )
        )
    return st.one_of(strategies)


def _describe(exc: Failure | FailureGroup) -> Iterator[str]:
    if isinstance(exc, FailureGroup):
        for failure in exc.exceptions:
            yield from _describe(failure)
    else:
        yield f"{exc.title}: {exc.message}"


def fuzz(
    operation: Any, mode: GenerationMode, world: dict[str, Any]
) -> tuple[dict[str, str], Counter[int]]:
    """Run one operation's cases; return ({failure: curl}, Counter of statuses)."""
    failures: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    session = requests.Session()

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # report, do not shrink
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, world))
    def run(case: Any) -> None:
        response = case.call(
            base_url=world["base_url"], session=session, headers=world["headers"]
        )
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=world["headers"])
        except (Failure, FailureGroup) as exc:
            for text in _describe(exc):
                failures.setdefault(text[:500], case.as_curl_command(world["headers"]))

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to make invalid: no body, no query, path strings unconstrained.
        has_input = len(operation.body) or len(operation.query)
        if mode != GenerationMode.NEGATIVE or has_input:
            raise
    return failures, statuses


@pytest.mark.parametrize(
    ("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS]
)
def test_operation_survives_fuzzing(fuzz_world, method, path):
    """No 5xx, no schema violation, and invalid input is refused with a 4xx."""
    operation = fuzz_world["schema"][path][method]
    failures: dict[str, str] = {}
    seen: dict[str, Counter[int]] = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        found, statuses = fuzz(operation, mode, fuzz_world)
        failures |= {f"[{mode.value}] {k}": v for k, v in found.items()}
        seen[mode.value] = statuses
    print(f"{method} {path}: {dict(seen['positive'])} / {dict(seen['negative'])}")
    report = "\n\n".join(f"{title}\n  {curl}" for title, curl in failures.items())
    assert not failures, f"{len(failures)} distinct failure(s):\n{report}"
    # Enough cases got past authentication and lookup to exercise the view.
    inputs = sum(map(len, (operation.path_parameters, operation.query, operation.body)))
    assert sum(seen["positive"].values()) >= (MAX_EXAMPLES // 2 if inputs else 1), seen
    assert any(200 <= code < 300 for code in seen["positive"]), seen
    if seen["negative"]:
        # Most invalid requests are refused; negative_data_rejection judges each.
        refused = sum(n for code, n in seen["negative"].items() if 400 <= code < 500)
        assert refused > sum(seen["negative"].values()) // 2, seen


def test_every_endpoint_is_documented():
    """The schema documents exactly the operations the URL conf serves."""
    served = {
        (method, "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", reverse_route(name)))
        for name, method in ENDPOINTS
    }
    assert served == set(OPERATIONS)


def test_every_4xx_is_documented_with_the_error_body():
    """Every operation documents its 4xx answers, each as the one error body."""
    error_ref = "#/components/schemas/Error"
    for method, path in OPERATIONS:
        responses = SCHEMA["paths"][path][method.lower()]["responses"]
        codes = {int(code) for code in responses}
        assert {401, 429} <= codes, (method, path, codes)
        if "requestBody" in SCHEMA["paths"][path][method.lower()]:
            assert {400, 413, 415} <= codes, (method, path, codes)
        for code, response in responses.items():
            if 400 <= int(code) < 500:
                media = response["content"]["application/json"]["schema"]
                assert media == {"$ref": error_ref}, (method, path, code)
    schemes = SCHEMA["components"]["securitySchemes"]
    assert schemes["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
