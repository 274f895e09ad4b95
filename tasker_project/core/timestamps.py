"""The abstract base giving models their creation and update timestamps."""

from django.db import models


class TimeStampedModel(models.Model):
    """Add ``created_at`` and ``updated_at``, set by the database layer."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
