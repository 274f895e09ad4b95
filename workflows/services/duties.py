"""Separation of duties for changes made by hand: an approval gates its dependents.

A person may retry or resolve a step by hand only when every approval step
it depends on — directly or through other steps — is ``complete``: an
approver said yes. Otherwise an operator (the initiator included) could
resolve the step behind a waiting or rejected approval and carry the task
past the decision, which is exactly what four eyes forbid. The rule holds
for every actor, superusers and the CLI included, because it is about the
task's state, not about who asks: no role lets anyone stand in for an
approver's decision.

Every service that changes a step's status by hand calls
:func:`require_approvals_decided` before opening its transaction, so the
refusal's audit record survives the refusal. Checking before the lock is
sound because the condition only ever becomes true: ``complete`` is
terminal, so a step that passed the check cannot lose the approval it
passed on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from audit.trail import audit_record
from tasker_project.core.actors import Actor
from tasker_project.core.errors import PermissionDenied
from workflows.engine.states import StepStatus
from workflows.models import Step, StepEdge, StepKind, Task


def undecided_approvals(step: Step) -> list[tuple[str, str]]:
    """Return ``(name, status)`` of the undecided approvals ``step`` depends on.

    Walks the task's dependency edges upwards from ``step`` (one query for
    the edges, one for the steps), so an approval two or more steps up is
    found as well as a direct parent.
    """
    parents: dict[Any, list[Any]] = defaultdict(list)
    for parent_id, child_id in StepEdge.objects.filter(
        task_id=step.task_id
    ).values_list("parent_id", "child_id"):
        parents[child_id].append(parent_id)
    ancestors: set[Any] = set()
    frontier = list(parents.get(step.pk, ()))
    while frontier:
        current = frontier.pop()
        if current in ancestors:
            continue
        ancestors.add(current)
        frontier.extend(parents.get(current, ()))
    if not ancestors:
        return []
    return list(
        Step.objects.filter(pk__in=ancestors, template__kind=StepKind.APPROVAL)
        .exclude(status=StepStatus.COMPLETE)
        .order_by("name")
        .values_list("name", "status")
    )


def require_approvals_decided(*, step: Step, actor: Actor, verb: str) -> None:
    """Refuse (403, audited) to ``verb`` ``step`` while an approval above it is open.

    ``verb`` names the manual change ("resolve", "retry", "skip") in the
    message and the audit record.
    """
    blocking = undecided_approvals(step)
    if not blocking:
        return
    task = Task.objects.select_related("namespace").get(pk=step.task_id)
    named = ", ".join(f"'{name}' ({status})" for name, status in blocking)
    audit_record(
        actor=actor,
        action="permission.denied",
        object_type="step",
        object_id=step.pk,
        namespace=task.namespace,
        reason=f"separation of duties: {verb} refused while an approval is open",
        metadata={
            "action": verb,
            "task": str(task.pk),
            "step": step.name,
            "approvals": [
                {"step": name, "status": status} for name, status in blocking
            ],
        },
    )
    raise PermissionDenied(
        f"step '{step.name}' depends on approval step {named}: it cannot be "
        f"{_participle(verb)} by hand until an approver approves it "
        "(separation of duties)",
        code="approval_pending",
    )


def _participle(verb: str) -> str:
    return {"retry": "retried", "skip": "skipped"}.get(verb, f"{verb}d")
