"""Workflow definitions: a versioned DAG of step templates owned by a team."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from packaging.version import InvalidVersion, Version

from tasker_project.core.ids import uuid7
from tasker_project.core.timestamps import TimeStampedModel

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,99}$"
SEMVER_PATTERN = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$"


def parse_semver(value: str) -> tuple[int, int, int]:
    """Return ``(major, minor, patch)`` for ``MAJOR.MINOR.PATCH``.

    Raise ``ValueError`` naming the value when it is not a plain semantic
    version; versions are compared as numbers, so 2.10.0 > 2.9.0.
    """
    import re

    if not isinstance(value, str) or not re.match(SEMVER_PATTERN, value):
        raise ValueError(f"version {value!r} is not MAJOR.MINOR.PATCH")
    try:
        parsed = Version(value)
    except InvalidVersion as exc:  # pragma: no cover - the regex already rules it out
        raise ValueError(f"version {value!r} is not MAJOR.MINOR.PATCH") from exc
    return parsed.major, parsed.minor, parsed.micro


class ImmutableDefinitionError(Exception):
    """Raised when code changes a definition version that a task has used."""

    code = "definition_immutable"


class StepKind(models.TextChoices):
    TASK = "task", "Task"
    APPROVAL = "approval", "Approval"
    SUBWORKFLOW = "subworkflow", "Subworkflow"


class WorkflowDefinition(TimeStampedModel):
    """One version of one workflow of one namespace.

    ``(namespace, name, version)`` is unique and at most one version per
    ``(namespace, name)`` is the default. A version that a task has used is
    immutable: its steps and schema are the contract its tasks run on;
    publish a new version instead. ``deprecated`` stops new starts without
    touching running tasks.
    """

    uuid = models.UUIDField(default=uuid7, unique=True, editable=False)
    namespace = models.ForeignKey(
        "namespaces.Namespace", on_delete=models.PROTECT, related_name="definitions"
    )
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=32)
    version_major = models.PositiveIntegerField(editable=False)
    version_minor = models.PositiveIntegerField(editable=False)
    version_patch = models.PositiveIntegerField(editable=False)
    description = models.TextField(blank=True)
    context_schema = models.JSONField(default=dict, blank=True)
    example_context = models.JSONField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    # The file says `default: true`: this version stays the default until a
    # file pins another, even across syncs of single files.
    default_pinned = models.BooleanField(default=False)
    deprecated = models.BooleanField(default=False)
    # sha256 of the canonical spec (everything but lifecycle flags): a sync
    # that would change it for an existing version is refused.
    spec_hash = models.CharField(max_length=64, editable=False)
    source_file = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = [
            "namespace__slug",
            "name",
            "-version_major",
            "-version_minor",
            "-version_patch",
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "name", "version"],
                name="definition_unique_version",
            ),
            models.UniqueConstraint(
                fields=["namespace", "name"],
                condition=models.Q(is_default=True),
                name="definition_one_default",
            ),
            models.CheckConstraint(
                condition=models.Q(name__regex=NAME_PATTERN),
                name="definition_name_format",
            ),
            models.CheckConstraint(
                condition=models.Q(version__regex=SEMVER_PATTERN),
                name="definition_version_semver",
            ),
            models.CheckConstraint(
                condition=~(models.Q(is_default=True) & models.Q(deprecated=True)),
                name="definition_default_not_deprecated",
            ),
        ]
        indexes = [models.Index(fields=["namespace", "name", "is_default"])]

    def __str__(self) -> str:
        return f"{self.namespace.slug}.{self.name}@{self.version}"

    def save(self, *args, **kwargs) -> None:
        try:
            self.version_major, self.version_minor, self.version_patch = parse_semver(
                self.version
            )
        except ValueError as exc:
            raise ValidationError({"version": str(exc)}) from exc
        if self.pk is not None and self.is_used():
            self._refuse_spec_change()
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        """Return ``namespace.name``."""
        return f"{self.namespace.slug}.{self.name}"

    @property
    def semver(self) -> tuple[int, int, int]:
        """Return the version as a comparable tuple."""
        return (self.version_major, self.version_minor, self.version_patch)

    def is_used(self) -> bool:
        """Return whether any task has run on this version."""
        return self.tasks.exists()

    def _refuse_spec_change(self) -> None:
        """Raise if a used version's contract fields differ from the stored row."""
        stored = (
            WorkflowDefinition.objects.filter(pk=self.pk)
            .values("namespace_id", "name", "version", "context_schema", "spec_hash")
            .first()
        )
        if stored is None:
            return
        current = {
            "namespace_id": self.namespace_id,
            "name": self.name,
            "version": self.version,
            "context_schema": self.context_schema,
            "spec_hash": self.spec_hash,
        }
        held: dict[str, Any] = dict(stored)
        changed = sorted(k for k, v in current.items() if held[k] != v)
        if changed:
            raise ImmutableDefinitionError(
                f"workflow {self} is used by tasks and cannot change "
                f"({', '.join(changed)}); publish a new version instead"
            )


class StepTemplate(models.Model):
    """One step of a workflow definition: handler, dependencies, retry policy."""

    definition = models.ForeignKey(
        WorkflowDefinition, on_delete=models.CASCADE, related_name="step_templates"
    )
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    handler = models.CharField(max_length=300)
    kind = models.CharField(
        max_length=16, choices=StepKind.choices, default=StepKind.TASK
    )
    depends_on = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    retryable = models.BooleanField(default=True)
    retry_limit = models.PositiveIntegerField(default=3)
    backoff_base_seconds = models.FloatField(default=1.0)
    backoff_max_seconds = models.FloatField(default=300.0)
    backoff_jitter = models.BooleanField(default=True)
    timeout_seconds = models.PositiveIntegerField(default=300)
    handler_config = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["definition", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "name"], name="step_template_unique_name"
            ),
            models.CheckConstraint(
                condition=models.Q(retry_limit__gte=1),
                name="step_template_retry_limit_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=1),
                name="step_template_timeout_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(backoff_base_seconds__gte=0)
                & models.Q(backoff_max_seconds__gte=models.F("backoff_base_seconds")),
                name="step_template_backoff_range",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in StepKind]),
                name="step_template_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.definition}:{self.name}"

    def save(self, *args, **kwargs) -> None:
        if self.definition_id is not None and self.definition.is_used():
            raise ImmutableDefinitionError(
                f"workflow {self.definition} is used by tasks; its step "
                f"'{self.name}' cannot change; publish a new version instead"
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.definition.is_used():
            raise ImmutableDefinitionError(
                f"workflow {self.definition} is used by tasks; its step "
                f"'{self.name}' cannot be deleted"
            )
        return super().delete(*args, **kwargs)
