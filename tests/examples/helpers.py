"""Run example handlers in-process, the way the engine would, without it.

The engine passes a handler only its direct dependencies' results and an
idempotency key per task and step; these helpers do the same so the
handlers are tested against the contract they get in production.

The first examples are named ``namespace.name`` (:data:`WORKFLOW_FILES`);
the versioned refund files ``namespace.name@version`` (:data:`REFUND_FILES`).
Approval and subworkflow steps return :class:`AwaitApproval` /
:class:`StartSubtask` for the engine to act on; :func:`run_payments` runs a
payments refund to its end, the way the engine runs the child task of
``execute_refund_workflow``.
"""

from __future__ import annotations

import copy
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
PAYMENTS = "payments.process_refund@2.1.0"
PAYMENTS_V2_0 = "payments.process_refund@2.0.0"
CUSTOMER_SUCCESS = "customer_success.process_refund@1.3.0"
REFUND_FILES = {
    PAYMENTS: WORKFLOWS_DIR / "payments/process_refund-2.1.0.yaml",
    PAYMENTS_V2_0: WORKFLOWS_DIR / "payments/process_refund-2.0.0.yaml",
    CUSTOMER_SUCCESS: WORKFLOWS_DIR / "customer_success/process_refund-1.3.0.yaml",
}


def definition(workflow: str) -> dict[str, Any]:
    """Return the parsed YAML of ``namespace.name`` or ``namespace.name@version``."""
    path = REFUND_FILES[workflow] if "@" in workflow else WORKFLOW_FILES[workflow]
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def example(workflow: str, **changes: Any) -> dict[str, Any]:
    """Return a copy of the workflow's example context with ``changes``."""
    context = copy.deepcopy(definition(workflow)["example_context"])
    context.update(changes)
    return context


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
    results: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Run one step with its direct dependencies' entries of ``results``."""
    spec = step_spec(workflow, step_name)
    results = results or {}
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


def run_steps(
    workflow: str,
    context: Mapping[str, Any],
    steps: list[str] | None = None,
    *,
    results: dict[str, Any] | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """Run ``steps`` (default: all) in file order; return results by step name."""
    task_id = task_id or uuid.uuid4().hex
    results = {} if results is None else results
    names = steps or [s["name"] for s in definition(workflow)["steps"]]
    for name in names:
        results[name] = run_step(workflow, name, context, results, task_id=task_id)
    return results


def run_payments(
    context: Mapping[str, Any], *, workflow: str = PAYMENTS, task_id: str | None = None
) -> dict[str, Any]:
    """Run a whole payments refund in-process; return results by step name."""
    return run_steps(workflow, context, task_id=task_id)
