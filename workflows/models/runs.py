"""Runs: tasks, their steps and edges, and the append-only transition history.

Statuses and their allowed transitions live in
:mod:`workflows.engine.states`; only :mod:`workflows.engine.transitions`
changes a status, always as a compare-and-set that writes its transition row
in the same transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tasker_project.core.ids import uuid7
from workflows.engine.states import StepStatus, TaskStatus


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a history row."""


class Task(models.Model):
    """One run of one workflow definition version."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    namespace = models.ForeignKey(
        "namespaces.Namespace", on_delete=models.PROTECT, related_name="tasks"
    )
    definition = models.ForeignKey(
        "workflows.WorkflowDefinition", on_delete=models.PROTECT, related_name="tasks"
    )
    status = models.CharField(
        max_length=24, choices=TaskStatus.choices, default=TaskStatus.PENDING
    )
    # Personal values in the context, the steps' results and approval
    # requests are stored as tokens under this key (audit/crypto.py). Not
    # indexed: a subject's tasks are found from the key (owner_id).
    context = models.JSONField(default=dict)
    data_key = models.ForeignKey(
        "audit.DataKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="initiated_tasks",
    )
    initiator_label = models.CharField(max_length=150, blank=True)
    source_system = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    correlation_id = models.CharField(max_length=100, db_index=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    parent_step = models.ForeignKey(
        "workflows.Step",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="child_tasks",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    # Set by a start: False when an idempotency key found an earlier task.
    # Not a column.
    was_created: bool

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="task_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TaskStatus.values),
                name="task_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["namespace", "status", "-created_at"]),
            # A team's task list, newest first (the API's default order).
            models.Index(
                fields=["namespace", "-created_at", "-id"], name="task_namespace_newest"
            ),
            models.Index(fields=["definition", "-created_at"]),
            models.Index(fields=["-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.definition} task {self.id}"


class Step(models.Model):
    """One run of one step template inside a task.

    ``attempts`` only grows: it is the fencing token that lets a completion
    from an expired attempt be refused. ``max_attempts`` starts at the
    template's ``retry_limit`` and grows by it on a manual retry.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Not indexed alone: step_unique_name (task, name) and (task, status) lead
    # with it, and every index is written on each status change of a step.
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="steps", db_index=False
    )
    template = models.ForeignKey(
        "workflows.StepTemplate", on_delete=models.PROTECT, related_name="steps"
    )
    name = models.CharField(max_length=100)
    status = models.CharField(
        max_length=24, choices=StepStatus.choices, default=StepStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    # How many of this step's parents are not yet satisfied. Settling a
    # parent decrements its children under the task lock; a pending child
    # that reaches 0 is enqueued. Readiness costs one row per child, however
    # many parents a fan-in has.
    waiting_on = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # Approval steps: what the handler asked a person to decide, and the decision.
    approval_request = models.JSONField(null=True, blank=True)
    decision = models.CharField(
        max_length=10,
        blank=True,
        choices=[("approved", "Approved"), ("rejected", "Rejected")],
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,  # partial index below: only decided steps
        related_name="decided_steps",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "name"], name="step_unique_name"),
            models.CheckConstraint(
                condition=models.Q(status__in=StepStatus.values),
                name="step_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1),
                name="step_max_attempts_positive",
            ),
        ]
        indexes = [
            # The sweeper's three scans; partial so they stay small.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status=StepStatus.WAITING_FOR_RETRY),
                name="step_due_retry_idx",
            ),
            models.Index(
                fields=["enqueued_at"],
                condition=models.Q(status=StepStatus.ENQUEUED),
                name="step_enqueued_idx",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status=StepStatus.IN_PROGRESS),
                name="step_lease_idx",
            ),
            models.Index(fields=["task", "status"]),
            models.Index(
                fields=["decided_by"],
                name="step_decided_by_idx",
                condition=models.Q(decided_by__isnull=False),
            ),
            models.Index(
                fields=["task"],
                condition=models.Q(status=StepStatus.WAITING_FOR_APPROVAL),
                name="step_awaiting_approval_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class StepEdge(models.Model):
    """``child`` depends on ``parent``; both are steps of the same task."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="edges")
    parent = models.ForeignKey(
        Step, on_delete=models.CASCADE, related_name="child_edges"
    )
    child = models.ForeignKey(
        Step, on_delete=models.CASCADE, related_name="parent_edges"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="edge_unique"),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("child")), name="edge_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parent_id} → {self.child_id}"


class TransitionBase(models.Model):
    """Fields shared by the append-only task and step histories."""

    created_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # Most transitions are the system's (no user): the concrete models
        # index only rows with an actor.
        db_index=False,
    )
    actor_label = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("transitions are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("transitions are append-only")


class TaskTransition(TransitionBase):
    """One status change of a task."""

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="transitions", db_index=False
    )

    class Meta:
        ordering = ["task", "created_at", "id"]
        indexes = [
            models.Index(fields=["task", "created_at"]),
            models.Index(
                fields=["actor"],
                name="tasktransition_actor_idx",
                condition=models.Q(actor__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id}: {self.from_status or '∅'} → {self.to_status}"


class StepTransition(TransitionBase):
    """One status change of a step."""

    step = models.ForeignKey(
        Step, on_delete=models.CASCADE, related_name="transitions", db_index=False
    )
    attempt = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["step", "created_at", "id"]
        indexes = [
            models.Index(fields=["step", "created_at"]),
            models.Index(
                fields=["actor"],
                name="steptransition_actor_idx",
                condition=models.Q(actor__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"step {self.step_id}: {self.from_status or '∅'} → {self.to_status}"
