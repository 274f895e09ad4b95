"""The mailer every example workflow sends through."""

from django.db import models

from examples.models.ids import email_id
from tasker_project.core.timestamps import TimeStampedModel


class SentEmail(TimeStampedModel):
    """One message the simulated mailer accepted.

    ``idempotency_key`` is unique: sending again with the same key returns
    this row instead of sending a second message.
    """

    message_id = models.CharField(max_length=40, unique=True, default=email_id)
    idempotency_key = models.CharField(max_length=255)
    to = models.EmailField()
    subject = models.CharField(max_length=255)
    body = models.TextField()
    template = models.CharField(max_length=100, db_index=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_sentemail_unique_key"
            ),
        ]
        indexes = [models.Index(fields=["to"], name="examples_sentemail_to")]

    def __str__(self) -> str:
        return f"{self.template} {self.message_id}"
