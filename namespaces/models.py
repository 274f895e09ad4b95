"""A namespace is a team: it owns workflows and the tasks run from them."""

from django.core.validators import RegexValidator
from django.db import models

from tasker_project.ids import uuid7
from tasker_project.timestamps import TimeStampedModel

SLUG_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "Use lowercase letters, digits and underscores, starting with a letter.",
)


class Namespace(TimeStampedModel):
    """A team namespace such as ``payments`` or ``customer_success``."""

    uuid = models.UUIDField(default=uuid7, unique=True, editable=False)
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(slug__regex=SLUG_PATTERN),
                name="namespace_slug_format",
            ),
        ]

    def __str__(self) -> str:
        return self.slug
