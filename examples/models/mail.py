"""The mailer every example workflow sends through."""

from django.db import models

from audit.fields import (
    BlindIndexField,
    DataKeyField,
    EncryptedEmailField,
    EncryptedTextField,
    PIIQuerySet,
)
from examples.models.ids import email_id
from tasker_project.core.timestamps import TimeStampedModel


class SentEmail(TimeStampedModel):
    """One message the simulated mailer accepted.

    ``idempotency_key`` is unique: sending again with the same key returns
    this row instead of sending a second message. Recipient, subject and
    body are encrypted under the message's data key (a welcome names its
    reader); messages to an address are found by ``to_index``.
    """

    message_id = models.CharField(max_length=40, unique=True, default=email_id)
    idempotency_key = models.CharField(max_length=255)
    to = EncryptedEmailField()
    to_index = BlindIndexField(source="to")
    subject = EncryptedTextField(max_length=255)
    body = EncryptedTextField()
    template = models.CharField(max_length=100, db_index=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    data_key = DataKeyField()

    objects = PIIQuerySet.as_manager()

    pii_subject = "to"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_sentemail_unique_key"
            ),
        ]
        indexes = [
            models.Index(fields=["to_index"], name="examples_sentemail_to_index")
        ]

    def __str__(self) -> str:
        return f"{self.template} {self.message_id}"
