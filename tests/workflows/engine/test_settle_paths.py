"""A settle leaves the same rows on the ORM path and in PostgreSQL's function.

``complete_attempt`` settles through the ORM (``progress``, ``transitions``)
on SQLite and through ``tasker_step_complete`` on PostgreSQL. Each scenario
below runs once per path this database has — on PostgreSQL both, the ORM
one by making the executor's vendor check answer "not PostgreSQL" — and the
rows it leaves (statuses, ``waiting_on``, attempts, results, transitions;
ids and timestamps left out) must equal the literal rows written here, so
on PostgreSQL the two paths also equal each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection

from namespaces.models import Namespace
from namespaces.services import grant_create
from tests.factories import start, step_of
from tests.workflows.helpers import SYSTEM, run_ready
from workflows.engine import executor, settle_sql
from workflows.engine.executor import claim_step, complete_attempt, execute_step
from workflows.models import Step, StepTransition, Task, TaskTransition
from workflows.services import task_cancel

pytestmark = pytest.mark.django_db

ORM, FUNCTION = "orm", "function"


class _NotPostgreSQL:
    """The executor's connection, but its vendor check takes the ORM path."""

    vendor = "orm"

    def __getattr__(self, name: str) -> Any:
        return getattr(connection, name)


@contextmanager
def settle_path(path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settle through ``path`` inside the block; check the block settled there."""
    calls: list[Any] = []
    function = settle_sql.step_complete

    def counted(**kwargs: Any) -> settle_sql.Settled:
        calls.append(kwargs["step_id"])
        return function(**kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(settle_sql, "step_complete", counted)
        if path == ORM:
            patch.setattr(executor, "connection", _NotPostgreSQL())
        yield
    assert bool(calls) == (path == FUNCTION), f"{path}: {len(calls)} function calls"


def paths() -> list[str]:
    return [ORM, FUNCTION] if connection.vendor == "postgresql" else [ORM]


def rows(**tasks: Task) -> dict[str, Any]:
    """Return what the settles left of ``tasks``, keyed by the given names.

    A task: (status, finished, transitions as (from, to, reason, actor)).
    A step: (status, waiting_on, attempts, finished, results or error code,
    transitions as (from, to, attempt, reason, actor)). Task ids inside
    reasons and results read ``<name>``.
    """
    labels = {str(task.pk): f"<{name}>" for name, task in tasks.items()}

    def scrub(value: Any) -> Any:
        text = json.dumps(value, sort_keys=True)
        for pk, label in labels.items():
            text = text.replace(pk, label)
        return json.loads(text)

    left: dict[str, Any] = {}
    for name, given in tasks.items():
        task = Task.objects.get(pk=given.pk)
        left[name] = scrub(
            [
                task.status,
                task.completed_at is not None,
                list(
                    TaskTransition.objects.filter(task=task)
                    .order_by("id")
                    .values_list("from_status", "to_status", "reason", "actor_label")
                ),
            ]
        )
        for step in Step.objects.filter(task=task).order_by("name"):
            outcome = {"error": step.error.get("code")} if step.error else step.results
            left[f"{name}.{step.name}"] = scrub(
                [
                    step.status,
                    step.waiting_on,
                    step.attempts,
                    step.completed_at is not None,
                    outcome,
                    list(
                        StepTransition.objects.filter(step=step)
                        .order_by("id")
                        .values_list(
                            "from_status",
                            "to_status",
                            "attempt",
                            "reason",
                            "actor_label",
                        )
                    ),
                ]
            )
    return left


def check(
    scenario: Callable[[], dict[str, Any]],
    expected: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for path in paths():
        with settle_path(path, monkeypatch):
            left = scenario()
        assert left == expected, f"the {path} path left other rows"


WORKER, TEST, SUBWORKFLOW = "system:worker", "system:test", "system:subworkflow"
CLAIMED = ["enqueued", "in_progress", 1, "claimed", WORKER]
SUCCEEDED = ["in_progress", "complete", 1, "handler succeeded", WORKER]


def started(actor: str = TEST) -> list[Any]:
    return ["pending", "in_progress", "started", actor]


def root_step(actor: str = TEST) -> list[Any]:
    return ["pending", "enqueued", 0, "root step", actor]


def ready(actor: str = WORKER) -> list[Any]:
    return ["pending", "enqueued", 0, "dependencies satisfied", actor]


def ran(task: str, step: str, value: int, *parents: str, enqueued: Any) -> list[Any]:
    """A step that ran ``tests.handlers.Add`` once and completed."""
    results = {
        "attempt": 1,
        "idempotency_key": f"tasker:<{task}>:{step}",
        "parents": sorted(parents),
        "value": value,
    }
    return ["complete", 0, 1, True, results, [enqueued, CLAIMED, SUCCEEDED]]


def test_fan_in_enqueues_the_child_when_its_second_parent_completes(
    synced, monkeypatch
):
    def scenario() -> dict[str, Any]:
        task = start("testing.diamond", {"start": 1})
        for name in ("root", "left", "right"):
            execute_step(step_of(task, name).pk)
        return rows(t=task)

    check(scenario, EXPECTED_FAN_IN, monkeypatch)


def test_the_last_completion_finishes_the_task(synced, monkeypatch):
    def scenario() -> dict[str, Any]:
        return rows(t=run_ready(start("testing.chain", {"start": 1})))

    check(scenario, EXPECTED_FINISH, monkeypatch)


def test_a_completion_after_a_failed_sibling_fails_the_task(synced, monkeypatch):
    def scenario() -> dict[str, Any]:
        task = start("testing.diamond", {"start": 1, "fail": {"left": ["permanent"]}})
        for name in ("root", "left", "right"):
            execute_step(step_of(task, name).pk)
        return rows(t=task)

    check(scenario, EXPECTED_FAIL, monkeypatch)


def test_a_completion_after_the_task_was_cancelled_is_fenced(synced, monkeypatch):
    def scenario() -> dict[str, Any]:
        task = start("testing.chain", {"start": 1})
        claim = claim_step(step_of(task, "first").pk)
        task_cancel(task=task, actor=SYSTEM, reason="racing the worker")
        outcome = complete_attempt(
            step=claim, attempt=claim.attempts, results={"value": 2}
        )
        assert outcome == "fenced"
        return rows(t=task)

    check(scenario, EXPECTED_CANCEL, monkeypatch)


@pytest.fixture
def granted(synced) -> None:
    """crossteam may start testing.chain."""
    grant_create(
        source=Namespace.objects.get(slug="crossteam"),
        target=Namespace.objects.get(slug="testing"),
        workflow="chain",
        actor=SYSTEM,
    )


def test_a_child_task_finishing_settles_its_parent_step(granted, monkeypatch):
    def scenario() -> dict[str, Any]:
        parent = run_ready(start("crossteam.parent", {"start": 1, "amount": 50}))
        child = Task.objects.get(parent_step__task=parent)
        run_ready(child)
        run_ready(parent)
        return rows(parent=parent, child=child)

    check(scenario, EXPECTED_SUBTASK, monkeypatch)


EXPECTED_FAN_IN = {
    "t": ["in_progress", False, [started()]],
    "t.root": ran("t", "root", 2, enqueued=root_step()),
    "t.left": ran("t", "left", 3, "root", enqueued=ready()),
    "t.right": ran("t", "right", 3, "root", enqueued=ready()),
    "t.join": ["enqueued", 0, 0, False, None, [ready()]],
}
EXPECTED_FINISH = {
    "t": [
        "complete",
        True,
        [started(), ["in_progress", "complete", "every step satisfied", WORKER]],
    ],
    "t.first": ran("t", "first", 2, enqueued=root_step()),
    "t.second": ran("t", "second", 12, "first", enqueued=ready()),
    "t.third": ran("t", "third", 13, "second", enqueued=ready()),
}
EXPECTED_FAIL = {
    "t": [
        "failed",
        True,
        [started(), ["in_progress", "failed", "1 step(s) failed", WORKER]],
    ],
    "t.root": ran("t", "root", 2, enqueued=root_step()),
    "t.left": [
        "failed",
        0,
        1,
        True,
        {"error": "injected"},
        [
            ready(),
            CLAIMED,
            ["in_progress", "failed", 1, "injected: injected permanent fault", WORKER],
        ],
    ],
    "t.right": ran("t", "right", 3, "root", enqueued=ready()),
    "t.join": ["pending", 1, 0, False, None, []],
}
CANCELLED = "racing the worker"
EXPECTED_CANCEL = {
    "t": [
        "cancelled",
        True,
        [started(), ["in_progress", "cancelled", CANCELLED, TEST]],
    ],
    "t.first": [
        "cancelled",
        0,
        1,
        False,
        None,
        [root_step(), CLAIMED, ["in_progress", "cancelled", 0, CANCELLED, TEST]],
    ],
    "t.second": [
        "cancelled",
        1,
        0,
        False,
        None,
        [["pending", "cancelled", 0, CANCELLED, TEST]],
    ],
    "t.third": [
        "cancelled",
        1,
        0,
        False,
        None,
        [["pending", "cancelled", 0, CANCELLED, TEST]],
    ],
}
EXPECTED_SUBTASK = {
    "parent": [
        "complete",
        True,
        [started(), ["in_progress", "complete", "every step satisfied", WORKER]],
    ],
    "parent.prepare": ran("parent", "prepare", 2, enqueued=root_step()),
    "parent.review": [
        "complete",
        0,
        1,
        True,
        {"amount": 50, "auto_approved": True},
        [ready(), CLAIMED, SUCCEEDED],
    ],
    "parent.call": [
        "complete",
        0,
        1,
        True,
        {
            "child_status": "complete",
            "child_task_id": "<child>",
            "child_workflow": "testing.chain@1.0.0",
            "missing": None,
            "value": 13,
        },
        [
            ready(),
            CLAIMED,
            [
                "in_progress",
                "waiting_for_subtask",
                1,
                "waiting for testing.chain",
                SUBWORKFLOW,
            ],
            [
                "waiting_for_subtask",
                "complete",
                1,
                "child task <child> complete",
                SUBWORKFLOW,
            ],
        ],
    ],
    # Enqueued by the child's finish, which settled "call" as the subworkflow.
    "parent.finish": ran("parent", "finish", 14, "call", enqueued=ready(SUBWORKFLOW)),
    "child": [
        "complete",
        True,
        [
            started(SUBWORKFLOW),
            ["in_progress", "complete", "every step satisfied", WORKER],
        ],
    ],
    "child.first": ran("child", "first", 2, enqueued=root_step(SUBWORKFLOW)),
    "child.second": ran("child", "second", 12, "first", enqueued=ready()),
    "child.third": ran("child", "third", 13, "second", enqueued=ready()),
}
