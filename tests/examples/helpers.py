"""Run example handlers in-process, the way the engine would, without it.

The engine passes a handler only its direct dependencies' results and an
idempotency key per task and step; these helpers do the same so the
handlers are tested against the contract they get in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from django.utils.module_loading import import_string

from workflows.handlers import StepContext

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "examples" / "workflows"
WORKFLOW_FILES = {
    "ecommerce.process_order": WORKFLOWS_DIR / "ecommerce/process_order-1.0.0.yaml",
    "data_pipeline.customer_analytics": WORKFLOWS_DIR
    / "data_pipeline/customer_analytics-1.0.0.yaml",
    "microservices.user_registration": WORKFLOWS_DIR
    / "microservices/user_registration-1.0.0.yaml",
}


def definition(workflow: str) -> dict[str, Any]:
    """Return the parsed YAML of ``namespace.name``."""
    return yaml.safe_load(WORKFLOW_FILES[workflow].read_text(encoding="utf-8"))


def step_spec(workflow: str, step_name: str) -> dict[str, Any]:
    """Return the YAML mapping of one step."""
    for step in definition(workflow)["steps"]:
        if step["name"] == step_name:
            return step
    raise KeyError(step_name)


def make_ctx(
    workflow: str,
    step_name: str,
    context: Mapping[str, Any],
    *,
    deps: Mapping[str, Any] | None = None,
    attempt: int = 1,
    task_id: str = "task-1",
    handler_config: Mapping[str, Any] | None = None,
) -> StepContext:
    """Build the StepContext the engine would give ``step_name`` of ``workflow``."""
    spec = step_spec(workflow, step_name)
    data = definition(workflow)
    return StepContext(
        task_id=task_id,
        step_id=f"{task_id}-{step_name}",
        step_name=step_name,
        namespace=data["namespace"],
        workflow=data["name"],
        version=str(data["version"]),
        context=context,
        dependency_results=dict(deps or {}),
        handler_config=dict(
            spec.get("handler_config", {}) if handler_config is None else handler_config
        ),
        attempt=attempt,
        max_attempts=spec.get("retry_limit", 3),
        idempotency_key=f"tasker:{task_id}:{step_name}",
        correlation_id=f"corr-{task_id}",
    )


def run_step(
    workflow: str,
    step_name: str,
    context: Mapping[str, Any],
    results: Mapping[str, Any],
    **kwargs: Any,
) -> dict[str, Any]:
    """Run one step with its direct dependencies' entries of ``results``."""
    spec = step_spec(workflow, step_name)
    deps = {name: results[name] for name in spec.get("depends_on", [])}
    ctx = make_ctx(workflow, step_name, context, deps=deps, **kwargs)
    return import_string(spec["handler"])().process(ctx)


def run_workflow(
    workflow: str, context: Mapping[str, Any], *, task_id: str | None = None
) -> dict[str, dict[str, Any]]:
    """Run every step in dependency order; return the results by step name."""
    task_id = task_id or uuid.uuid4().hex
    pending = list(definition(workflow)["steps"])
    results: dict[str, dict[str, Any]] = {}
    while pending:
        ready = [s for s in pending if set(s.get("depends_on", [])) <= set(results)]
        assert ready, f"no step of {workflow} is ready: a cycle"
        for spec in ready:
            results[spec["name"]] = run_step(
                workflow, spec["name"], context, results, task_id=task_id
            )
            pending.remove(spec)
    return results
