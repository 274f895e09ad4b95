"""Business audit events: who did what to which object, and why.

django-auditlog records field-level diffs of configuration models; these
events record the actions that matter to an auditor (a task started,
cancelled, a step retried or resolved by hand), written in the same
transaction as the change they describe. Rows are append-only.
"""

from django.conf import settings
from django.db import models

from tasker_project.core.ids import uuid7


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an append-only row."""


class AuditEvent(models.Model):
    """One business action by one actor, append-only."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    actor_label = models.CharField(max_length=150)
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

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["namespace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only")
