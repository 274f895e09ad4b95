"""The example workflows end to end: real engine, real Celery worker process."""

from __future__ import annotations

import copy

import pytest

from examples.models import (
    DashboardSnapshot,
    GatewayCharge,
    Order,
    SentEmail,
    UserAccount,
)
from examples.seed import seed_examples
from tests.examples.helpers import definition
from tests.factories import start, step_of
from workflows.engine.states import TaskStatus

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKFLOWS = [
    "ecommerce.process_order",
    "data_pipeline.customer_analytics",
    "microservices.user_registration",
]


def example(workflow: str, **changes) -> dict:
    context = copy.deepcopy(definition(workflow)["example_context"])
    context.update(changes)
    return context


@pytest.fixture
def seeded_db(transactional_db) -> None:
    seed_examples()


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_the_example_context_completes_on_a_seeded_database(
    workflow, seeded_db, synced, worker, wait_task
):
    """`start_task --example` succeeds for every reference workflow."""
    task = start(workflow, example(workflow))
    wait_task(task, TaskStatus.COMPLETE, timeout=90)


def test_all_three_examples_write_what_they_did(seeded_db, synced, worker, wait_task):
    """The simulated systems hold one charge, order, snapshot and account."""
    tasks = [start(workflow, example(workflow)) for workflow in WORKFLOWS]
    for task in tasks:
        wait_task(task, TaskStatus.COMPLETE, timeout=90)
    assert GatewayCharge.objects.count() == 1
    assert Order.objects.count() == 1
    assert DashboardSnapshot.objects.count() == 1
    assert UserAccount.objects.get().status == "active"
    # confirmation + 2 report recipients + 3 pro welcome messages
    assert SentEmail.objects.count() == 6


def test_a_lost_gateway_reply_is_retried_without_a_second_charge(
    seeded_db, synced, worker, wait_task
):
    """timeout_after_commit: the gateway charged, the retry finds that charge."""
    context = example(
        "ecommerce.process_order",
        simulate={"process_payment": ["timeout_after_commit", "rate_limit"]},
    )
    task = start("ecommerce.process_order", context)
    wait_task(task, TaskStatus.COMPLETE, timeout=90)
    payment = step_of(task, "process_payment")
    assert payment.attempts == 3
    assert payment.results["charged_now"] is False
    assert GatewayCharge.objects.count() == 1
    assert Order.objects.get().charge.charge_id == payment.results["charge_id"]


def test_a_declined_card_fails_the_task_without_an_order(
    seeded_db, synced, worker, wait_task
):
    """A decline is permanent: one attempt, the task fails, nothing ships."""
    context = example(
        "ecommerce.process_order",
        payment_token="tok_declined",  # noqa: S106 - a gateway test token
    )
    task = start("ecommerce.process_order", context)
    wait_task(task, TaskStatus.FAILED, timeout=90)
    payment = step_of(task, "process_payment")
    assert payment.attempts == 1
    assert payment.error["code"] == "card_declined"
    assert not Order.objects.exists()


def test_gateway_timeouts_exhaust_the_attempts(seeded_db, synced, worker, wait_task):
    """process_payment has retry_limit 4: four timeouts fail it, no order is made."""
    context = example(
        "ecommerce.process_order",
        simulate={"process_payment": ["timeout"] * 4},
    )
    task = start("ecommerce.process_order", context)
    wait_task(task, TaskStatus.FAILED, timeout=120)
    payment = step_of(task, "process_payment")
    assert payment.attempts == payment.max_attempts == 4
    assert payment.error["code"] == "gateway_timeout"
    assert step_of(task, "update_inventory").status == "pending"
    assert not GatewayCharge.objects.exists()
    assert not Order.objects.exists()


def test_transient_faults_in_a_parallel_branch_then_success(
    seeded_db, synced, worker, wait_task
):
    """An extract retries twice while its siblings finish; the fan-in runs once."""
    context = example(
        "data_pipeline.customer_analytics",
        simulate={"extract_users": ["unavailable", "crash"]},
    )
    task = start("data_pipeline.customer_analytics", context)
    wait_task(task, TaskStatus.COMPLETE, timeout=120)
    assert step_of(task, "extract_users").attempts == 3
    assert step_of(task, "transform_customer_metrics").attempts == 1
    assert DashboardSnapshot.objects.count() == 1
