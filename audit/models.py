"""Business audit events: who did what to which object, and why.

django-auditlog records field-level diffs of configuration models; these
events record the actions that matter to an auditor (a task started,
cancelled, a step retried or resolved by hand), written in the same
transaction as the change they describe. Rows are append-only.
"""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, models
from django.utils import timezone

from tasker_project.core.ids import uuid7


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an append-only row."""


DEACTIVATE_INSTEAD = (
    "{user} appears in the audit trail and cannot be deleted: deactivate instead "
    "(clear 'active')"
)


class ActorInTrailError(IntegrityError):
    """Raised when code tries to delete a user whom the audit trail names.

    Not a ``ProtectedError``: Django's deletion collector rewrites those into a
    message of its own, and this one has to tell the operator what to do.
    """


def protect_actor(collector: Any, field: Any, sub_objs: Any, using: Any) -> None:
    """``on_delete`` for actors: PROTECT, with a message that says what to do."""
    users = ", ".join(sorted({event.actor_label for event in sub_objs[:5]}))
    raise ActorInTrailError(DEACTIVATE_INSTEAD.format(user=users or "the user"))


class AuditEvent(models.Model):
    """One business action by one actor, append-only and hash-chained.

    Every row belongs to one chain (``ns:<namespace id>``, or ``global`` for
    events outside any namespace) at a gapless ``seq``; ``hash`` is an
    HMAC-SHA256 over ``prev_hash`` and every other column (audit/chain.py),
    checked by ``manage.py audit_verify``.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Set when the row is built (not auto_now_add, which stamps it only at
    # INSERT): the row's hash covers it and is computed before the insert.
    created_at = models.DateTimeField(
        default=timezone.now, editable=False, db_index=True
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=protect_actor,
        related_name="audit_events",
    )
    actor_label = models.CharField(max_length=150)
    # For a system actor (a worker, the sweeper): on whose behalf, the
    # task's initiator; blank when a person acts for themselves.
    initiator_label = models.CharField(max_length=150, blank=True)
    # The request or the task's correlation id, and the client address as
    # TASKER_TRUSTED_PROXIES allows (None outside a request).
    correlation_id = models.CharField(max_length=100, blank=True, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    namespace = models.ForeignKey(
        "namespaces.Namespace",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    reason = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    chain = models.CharField(max_length=40, editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["namespace", "-created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq")
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only")


class DataKey(models.Model):
    """A random key that encrypts one record's personal data (audit/crypto.py).

    Each owning record (a task, a customer, an order, a sent mail, an
    account) has its own key, wrapped by a master key (``TASKER_PII_KEYS``)
    and tagged with the blind index of its subject's e-mail. Erasing a
    subject clears ``wrapped`` and ``subject_index`` on its keys: the row
    stays as a tombstone, so its tokens read ``[erased]`` rather than as an
    unknown key, and the owners' foreign keys stay valid.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # What the key encrypts: "<app_label>.<model>" and the owner's primary key.
    owner_type = models.CharField(max_length=64)
    owner_id = models.CharField(max_length=64)
    # HMAC-SHA256 (TASKER_PII_INDEX_KEY) of the subject's normalised e-mail;
    # blank when the record names nobody, or once erased.
    subject_index = models.CharField(max_length=64, blank=True)
    # The data key wrapped by a master key (a Fernet token); NULL once erased.
    wrapped = models.BinaryField(null=True)
    # Which master key wraps it (a fingerprint): rotation resumes by it.
    master_id = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["subject_index"],
                condition=~models.Q(subject_index=""),
                name="datakey_subject",
            ),
            models.Index(fields=["owner_type", "owner_id"], name="datakey_owner"),
            models.Index(fields=["master_id"], name="datakey_master"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(wrapped__isnull=False) | models.Q(subject_index=""),
                name="datakey_erased_has_no_subject",
            )
        ]

    def __str__(self) -> str:
        return f"data key {self.id} of {self.owner_type}:{self.owner_id}"
