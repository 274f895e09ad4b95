"""The refund YAML definitions load, coexist, and their examples are valid."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from examples.common.faults import FAULTS
from tasker_project.core.actors import Actor
from tests.examples.helpers import (
    CUSTOMER_SUCCESS,
    PAYMENTS,
    PAYMENTS_V2_0,
    REFUND_FILES,
    WORKFLOWS_DIR,
    definition,
)
from workflows.definitions.loader import load_paths
from workflows.definitions.sync import definitions_sync
from workflows.models import WorkflowDefinition

EXPECTED_GRAPHS = {
    PAYMENTS: {
        "validate_payment_eligibility": [],
        "process_gateway_refund": ["validate_payment_eligibility"],
        "update_payment_records": ["process_gateway_refund"],
        "notify_customer": ["update_payment_records"],
    },
    PAYMENTS_V2_0: {
        "validate_payment_eligibility": [],
        "process_gateway_refund": ["validate_payment_eligibility"],
        "update_payment_records": ["process_gateway_refund"],
    },
    CUSTOMER_SUCCESS: {
        "validate_refund_request": [],
        "check_refund_policy": ["validate_refund_request"],
        "get_manager_approval": ["check_refund_policy"],
        "execute_refund_workflow": ["check_refund_policy", "get_manager_approval"],
        "update_ticket_status": ["execute_refund_workflow"],
    },
}
WORKFLOWS = sorted(REFUND_FILES)


def validator(workflow: str) -> Draft202012Validator:
    schema = definition(workflow)["context_schema"]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def loaded() -> dict[str, object]:
    """Load both refund directories with the engine's loader."""
    specs = load_paths([WORKFLOWS_DIR / "payments", WORKFLOWS_DIR / "customer_success"])
    return {spec.label: spec for spec in specs}


def test_the_loader_accepts_every_refund_file() -> None:
    """Three versions load side by side with the expected graphs and kinds."""
    specs = loaded()
    assert set(specs) == set(REFUND_FILES)
    for label, spec in specs.items():
        assert {s.name: list(s.depends_on) for s in spec.steps} == (
            EXPECTED_GRAPHS[label]
        )
        assert all(s.backoff_base_seconds <= 1 for s in spec.steps)
        assert all(s.backoff_max_seconds <= 5 for s in spec.steps)
        assert spec.default is None
    kinds = {s.name: s.kind for s in specs[CUSTOMER_SUCCESS].steps}
    assert kinds["get_manager_approval"] == "approval"
    assert kinds["execute_refund_workflow"] == "subworkflow"
    config = {s.name: s.handler_config for s in specs[CUSTOMER_SUCCESS].steps}
    assert config["get_manager_approval"]["approval_threshold_cents"] == 10_000


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_example_context_is_accepted_by_the_schema(workflow: str) -> None:
    """Each example_context validates against its own context_schema."""
    data = definition(workflow)
    assert f"{data['namespace']}.{data['name']}@{data['version']}" == workflow
    assert list(validator(workflow).iter_errors(data["example_context"])) == []


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_simulate_accepts_every_fault_on_every_step_and_nothing_else(
    workflow: str,
) -> None:
    """`simulate` takes the known faults for the version's own step names only."""
    check = validator(workflow)
    example = definition(workflow)["example_context"]
    steps = list(EXPECTED_GRAPHS[workflow])
    good = {**example, "simulate": {step: list(FAULTS) for step in steps}}
    assert list(check.iter_errors(good)) == []
    assert list(check.iter_errors({**example, "simulate": {"typo": ["timeout"]}}))
    assert list(check.iter_errors({**example, "simulate": {steps[0]: ["explode"]}}))


def test_only_2_1_0_has_a_notify_step_and_takes_partial_refund() -> None:
    """2.0.0 refuses the partial_refund property and a notify_customer fault."""
    old = validator(PAYMENTS_V2_0)
    example = definition(PAYMENTS_V2_0)["example_context"]
    assert list(old.iter_errors({**example, "partial_refund": False}))
    notify = {**example, "simulate": {"notify_customer": ["timeout"]}}
    assert list(old.iter_errors(notify))


@pytest.mark.parametrize(
    ("workflow", "change"),
    [
        (PAYMENTS, {"payment_id": "ch_1002"}),
        (PAYMENTS, {"refund_amount": 0}),
        (PAYMENTS, {"refund_amount": 12.5}),
        (PAYMENTS, {"refund_reason": "changed_mind"}),
        (PAYMENTS, {"partial_refund": "yes"}),
        (PAYMENTS, {"customer_email": "nobody"}),
        (CUSTOMER_SUCCESS, {"ticket_id": "1001"}),
        (CUSTOMER_SUCCESS, {"customer_id": "cust_1001"}),
        (CUSTOMER_SUCCESS, {"refund_amount": -5}),
        (CUSTOMER_SUCCESS, {"unexpected": True}),
    ],
)
def test_the_schema_refuses_bad_contexts(workflow: str, change: dict) -> None:
    """A context with a bad field is refused at the edge, before any step runs."""
    context = {**definition(workflow)["example_context"], **change}
    assert list(validator(workflow).iter_errors(context))


@pytest.mark.parametrize("field", ["ticket_id", "customer_id", "refund_amount"])
def test_customer_success_requires_ticket_customer_and_amount(field: str) -> None:
    """The three required fields of customer_success.process_refund."""
    context = dict(definition(CUSTOMER_SUCCESS)["example_context"])
    del context[field]
    assert list(validator(CUSTOMER_SUCCESS).iter_errors(context))


def test_the_highest_payments_version_is_the_default(db) -> None:
    """Synced side by side, 2.1.0 is the default and 2.0.0 stays startable."""
    specs = [s for s in loaded().values() if s.namespace == "payments"]
    definitions_sync(specs=specs, actor=Actor.system_actor("test"))
    rows = WorkflowDefinition.objects.filter(
        namespace__slug="payments", name="process_refund"
    )
    assert {row.version: row.is_default for row in rows} == {
        "2.0.0": False,
        "2.1.0": True,
    }
    assert not any(row.deprecated for row in rows)
