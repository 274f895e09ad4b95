"""The example YAML definitions load, and their example contexts are valid."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from examples.common.faults import FAULTS
from tests.examples.helpers import WORKFLOW_FILES, definition
from workflows.definitions.loader import load_file

EXPECTED_GRAPHS = {
    "ecommerce.process_order": {
        "validate_cart": [],
        "process_payment": ["validate_cart"],
        "update_inventory": ["process_payment"],
        "create_order": ["update_inventory"],
        "send_confirmation": ["create_order"],
    },
    "data_pipeline.customer_analytics": {
        "extract_orders": [],
        "extract_users": [],
        "extract_products": [],
        "transform_customer_metrics": ["extract_orders", "extract_users"],
        "transform_product_metrics": ["extract_orders", "extract_products"],
        "generate_insights": [
            "transform_customer_metrics",
            "transform_product_metrics",
        ],
        "update_dashboard": ["generate_insights"],
        "send_notifications": ["update_dashboard"],
    },
    "microservices.user_registration": {
        "create_user_account": [],
        "setup_billing_profile": ["create_user_account"],
        "initialize_preferences": ["create_user_account"],
        "send_welcome_sequence": ["setup_billing_profile", "initialize_preferences"],
        "update_user_status": ["send_welcome_sequence"],
    },
}


def validator(workflow: str) -> Draft202012Validator:
    schema = definition(workflow)["context_schema"]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.parametrize("workflow", sorted(WORKFLOW_FILES))
def test_example_context_is_accepted_by_the_schema(workflow: str) -> None:
    """Each example_context validates against its workflow's context_schema."""
    data = definition(workflow)
    assert f"{data['namespace']}.{data['name']}" == workflow
    errors = list(validator(workflow).iter_errors(data["example_context"]))
    assert errors == []


@pytest.mark.parametrize("workflow", sorted(WORKFLOW_FILES))
def test_the_definition_loader_accepts_the_file(workflow: str) -> None:
    """The engine's loader accepts each file: keys, handlers, graph, schema."""
    spec = load_file(WORKFLOW_FILES[workflow])
    assert spec.label == f"{workflow}@1.0.0"
    assert {s.name: list(s.depends_on) for s in spec.steps} == EXPECTED_GRAPHS[workflow]
    assert all(s.backoff_base_seconds <= 1 for s in spec.steps)


@pytest.mark.parametrize("workflow", sorted(WORKFLOW_FILES))
def test_simulate_accepts_every_fault_on_every_step_and_nothing_else(
    workflow: str,
) -> None:
    """`simulate` takes the known faults for the workflow's own step names only."""
    check = validator(workflow)
    example = definition(workflow)["example_context"]
    steps = list(EXPECTED_GRAPHS[workflow])
    good = {**example, "simulate": {step: list(FAULTS) for step in steps}}
    assert list(check.iter_errors(good)) == []
    typo = {**example, "simulate": {f"{steps[0]}x": ["timeout"]}}
    assert list(check.iter_errors(typo))
    unknown = {**example, "simulate": {steps[0]: ["explode"]}}
    assert list(check.iter_errors(unknown))


@pytest.mark.parametrize(
    ("workflow", "change"),
    [
        ("ecommerce.process_order", {"cart_items": []}),
        ("ecommerce.process_order", {"cart_items": [{"sku": "WIDGET-001"}]}),
        (
            "ecommerce.process_order",
            {"cart_items": [{"sku": "WIDGET-001", "quantity": 0}]},
        ),
        ("ecommerce.process_order", {"payment_token": "visa"}),
        ("ecommerce.process_order", {"customer_email": "not-an-address"}),
        ("data_pipeline.customer_analytics", {"start_date": "2025-13-01"}),
        ("data_pipeline.customer_analytics", {"recipients": ["nobody"]}),
        ("microservices.user_registration", {"plan": "platinum"}),
        ("microservices.user_registration", {"preferences": {"theme": "neon"}}),
        ("microservices.user_registration", {"unexpected": True}),
    ],
)
def test_the_schema_refuses_bad_contexts(workflow: str, change: dict) -> None:
    """A context with a bad field is refused at the edge, before any step runs."""
    context = {**definition(workflow)["example_context"], **change}
    assert list(validator(workflow).iter_errors(context))
