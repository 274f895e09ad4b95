"""Workflow models: definitions (what to run) and runs (what ran)."""

from workflows.models.definitions import StepKind, StepTemplate, WorkflowDefinition
from workflows.models.runs import Step, StepEdge, StepTransition, Task, TaskTransition

__all__ = [
    "Step",
    "StepEdge",
    "StepKind",
    "StepTemplate",
    "StepTransition",
    "Task",
    "TaskTransition",
    "WorkflowDefinition",
]
