"""The permission matrix: every role × every action × own or other namespace.

The expected cells are written out literally below (not derived from the
code's own role table), so a change to the role table that alters who may
do what fails here until this table is changed on purpose too.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from audit.models import AuditEvent
from namespaces.models import Namespace
from namespaces.services import (
    grant_create,
    membership_grant,
    membership_revoke,
)
from tasker_project.core.actors import Actor
from tasker_project.core.errors import NotFound, PermissionDenied
from tests.factories import NamespaceFactory, UserFactory, start, step_of
from tests.workflows.helpers import run_ready
from workflows import selectors
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Task
from workflows.services import (
    step_approve,
    step_reject,
    step_resolve,
    step_retry,
    task_cancel,
)

SYSTEM = Actor.system_actor("test")
ROLES = ["viewer", "operator", "approver", "maintainer", "pii_viewer", "none"]
ACTIONS = [
    "view",
    "start",
    "cancel",
    "retry",
    "resolve",
    "approve",
    "reject",
    "manage_members",
    "manage_grants",
]
# Own namespace: what each role may do. Everything else is denied (403), and
# in another team's namespace everything is invisible (404).
ALLOWED = {
    "viewer": {"view"},
    "operator": {"view", "start", "cancel", "retry", "resolve"},
    "approver": {"view", "approve", "reject"},
    "maintainer": {"view", "manage_members", "manage_grants"},
    "pii_viewer": {"view"},
    "none": set(),
}


def _failed_task() -> Task:
    return run_ready(
        start(
            "crossteam.parent",
            {"start": 1, "amount": 5, "fail": {"prepare": ["permanent"]}},
        )
    )


def _waiting_task() -> Task:
    return run_ready(start("crossteam.parent", {"start": 1, "amount": 500}))


def _act(action: str, actor: Actor, ns: Namespace) -> Callable[[], object]:
    """Return a callable performing ``action`` on an object of ``ns``."""
    other_user = UserFactory(username="bystander")
    if action == "view":
        task = start("crossteam.parent", {"start": 1})
        return lambda: selectors.task_get(user=actor.user, task_id=task.pk)
    if action == "start":
        return lambda: start("crossteam.parent", {"start": 1}, actor=actor)
    if action == "cancel":
        task = start("crossteam.parent", {"start": 1})
        return lambda: task_cancel(task=task, actor=actor)
    if action == "retry":
        task = _failed_task()
        return lambda: step_retry(step=step_of(task, "prepare"), actor=actor)
    if action == "resolve":
        task = _failed_task()
        return lambda: step_resolve(
            step=step_of(task, "prepare"), actor=actor, results={"value": 1}
        )
    if action == "approve":
        task = _waiting_task()
        return lambda: step_approve(
            step=step_of(task, "review"), actor=actor, comment="ok"
        )
    if action == "reject":
        task = _waiting_task()
        return lambda: step_reject(
            step=step_of(task, "review"), actor=actor, comment="no"
        )
    if action == "manage_members":
        return lambda: membership_grant(
            namespace=ns, user=other_user, role="viewer", actor=actor
        )
    if action == "manage_grants":
        testing = Namespace.objects.get(slug="testing")
        return lambda: grant_create(
            source=testing, target=ns, workflow="parent", actor=actor
        )
    raise AssertionError(action)


def _effect_happened(action: str) -> bool:
    """Return whether the action's effect is in the database."""
    if action == "start":
        return Task.objects.filter(initiator__username="member").exists()
    if action == "cancel":
        return Task.objects.filter(status=TaskStatus.CANCELLED).exists()
    if action == "retry":
        return Task.objects.filter(
            steps__name="prepare", steps__status=StepStatus.ENQUEUED
        ).exists()
    if action == "resolve":
        return Task.objects.filter(
            steps__name="prepare", steps__status=StepStatus.RESOLVED_MANUALLY
        ).exists()
    if action == "approve":
        return Task.objects.filter(steps__decision="approved").exists()
    if action == "reject":
        return Task.objects.filter(steps__decision="rejected").exists()
    if action == "manage_members":
        return (
            Namespace.objects.get(slug="crossteam")
            .team_roles.filter(group__user__username="bystander")
            .exists()
        )
    if action == "manage_grants":
        return Namespace.objects.get(slug="crossteam").grants_received_from.exists()
    return True  # view has no effect; success is returning the object


CELLS = [
    (role, action, scope)
    for role in ROLES
    for action in ACTIONS
    for scope in ("own", "other")
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "action", "scope"), CELLS)
def test_permission_matrix(synced, role, action, scope):
    own = NamespaceFactory(slug="crossteam")
    other = NamespaceFactory(slug="testing")
    roles = {own if scope == "own" else other: [role]} if role != "none" else {}
    user = UserFactory(username="member", roles=roles)
    act = _act(action, Actor.of(user), own)
    denials_before = AuditEvent.objects.filter(action="permission.denied").count()

    if scope == "own" and action in ALLOWED[role]:
        result = act()
        assert result is not None or action in {"manage_members"}
        assert _effect_happened(action), f"{role} {action}: no effect"
        return
    expected = PermissionDenied if scope == "own" and role != "none" else NotFound
    with pytest.raises(expected):
        act()
    if action != "view":
        assert not _effect_happened(action), f"{role} {action}: happened anyway"
        denials = AuditEvent.objects.filter(action="permission.denied")
        assert denials.count() == denials_before + 1
        assert denials.first().actor == user


@pytest.mark.django_db
def test_revoked_role_takes_effect_on_the_next_call(synced):
    own = NamespaceFactory(slug="crossteam")
    user = UserFactory(username="member", roles={own: ["operator"]})
    start("crossteam.parent", {"start": 1}, actor=Actor.of(user))
    membership_revoke(namespace=own, user=user, role="operator", actor=SYSTEM)
    with pytest.raises(NotFound):
        start("crossteam.parent", {"start": 1}, actor=Actor.of(user))


@pytest.mark.django_db
def test_superuser_may_do_everything_but_approve_their_own_request(synced):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    task = run_ready(
        start("crossteam.parent", {"start": 1, "amount": 500}, actor=Actor.of(admin))
    )
    with pytest.raises(PermissionDenied, match="four-eyes"):
        step_approve(
            step=step_of(task, "review"), actor=Actor.of(admin), comment="mine"
        )
    assert selectors.task_get(user=admin, task_id=task.pk) == task
