"""Register configuration models with django-auditlog for field diffs."""

from auditlog.registry import auditlog

from namespaces.models import Namespace
from workflows.models import StepTemplate, WorkflowDefinition


def register_models() -> None:
    """Track changes to teams and workflow definitions."""
    for model in (Namespace, WorkflowDefinition, StepTemplate):
        if not auditlog.contains(model):
            auditlog.register(model)
