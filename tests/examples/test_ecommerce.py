"""ecommerce.process_order handlers against the simulated systems."""

from __future__ import annotations

import copy

import pytest

from examples.models import (
    GatewayCharge,
    InventoryItem,
    Order,
    SentEmail,
    StockReservation,
)
from examples.seed import EXAMPLE_STOCK
from tests.examples.helpers import definition, run_step, run_workflow
from workflows.handlers import PermanentError, RetryableError

WORKFLOW = "ecommerce.process_order"
pytestmark = pytest.mark.django_db


def example(**changes) -> dict:
    context = copy.deepcopy(definition(WORKFLOW)["example_context"])
    context.update(changes)
    return context


def paid_results(context: dict) -> dict:
    """Run validate_cart and process_payment; return their results."""
    results: dict = {}
    for step in ("validate_cart", "process_payment"):
        results[step] = run_step(WORKFLOW, step, context, results)
    return results


def test_the_example_order_runs_end_to_end(seeded) -> None:
    """The example context charges, reserves, records and e-mails exactly once."""
    results = run_workflow(WORKFLOW, example(), task_id="t-example")
    cart = results["validate_cart"]
    # 2 × 19.99 + 49.99 = 89.97; 8% tax = 7.20 (7.1976 rounded); shipping 5.99.
    assert cart["subtotal_cents"] == 8_997
    assert cart["tax_cents"] == 720
    assert cart["shipping_cents"] == 599
    assert cart["total_cents"] == 10_316
    charge = GatewayCharge.objects.get()
    assert charge.amount_cents == 10_316
    assert charge.status == "succeeded"
    order = Order.objects.get()
    assert order.charge == charge
    assert order.order_number == results["create_order"]["order_number"]
    assert InventoryItem.objects.get(sku="WIDGET-001").stock == EXAMPLE_STOCK - 2
    assert InventoryItem.objects.get(sku="GADGET-002").stock == EXAMPLE_STOCK - 1
    email = SentEmail.objects.get()
    assert email.to == "jane.doe@example.com"
    assert order.order_number in email.subject


def test_free_shipping_from_one_hundred_dollars(seeded) -> None:
    """A subtotal of $100 or more ships free."""
    context = example(cart_items=[{"sku": "GADGET-002", "quantity": 3}])
    cart = run_step(WORKFLOW, "validate_cart", context, {})
    assert cart["shipping_cents"] == 0
    assert cart["total_cents"] == 14_997 + 1_200


def test_repeated_skus_are_merged(seeded) -> None:
    """Two lines of one SKU are priced and reserved as one."""
    items = [{"sku": "GIZMO-003", "quantity": 1}, {"sku": "GIZMO-003", "quantity": 2}]
    cart = run_step(WORKFLOW, "validate_cart", example(cart_items=items), {})
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [
        ("GIZMO-003", 3)
    ]


def test_an_out_of_stock_cart_fails_permanently_before_payment(seeded) -> None:
    """validate_cart refuses a SKU short of stock; nothing is charged."""
    context = example(cart_items=[{"sku": "SOLDOUT-999", "quantity": 1}])
    with pytest.raises(PermanentError) as raised:
        run_step(WORKFLOW, "validate_cart", context, {})
    assert raised.value.code == "out_of_stock"
    assert "SOLDOUT-999" in raised.value.message
    assert not GatewayCharge.objects.exists()


def test_an_unknown_sku_fails_permanently(seeded) -> None:
    """validate_cart names the SKU the catalogue lacks."""
    context = example(cart_items=[{"sku": "NOPE-1", "quantity": 1}])
    with pytest.raises(PermanentError) as raised:
        run_step(WORKFLOW, "validate_cart", context, {})
    assert raised.value.code == "unknown_sku"


def test_charging_twice_with_one_key_charges_once(seeded) -> None:
    """A retried payment step gets the first charge back, not a second one."""
    context = example()
    results = {"validate_cart": run_step(WORKFLOW, "validate_cart", context, {})}
    first = run_step(WORKFLOW, "process_payment", context, results, attempt=1)
    second = run_step(WORKFLOW, "process_payment", context, results, attempt=2)
    assert first["charged_now"] is True
    assert second["charged_now"] is False
    assert first["charge_id"] == second["charge_id"]
    assert GatewayCharge.objects.count() == 1


def test_a_declined_card_fails_permanently_and_stays_declined(seeded) -> None:
    """tok_declined is declined once, recorded, and declined again on retry."""
    # A gateway test token, not a secret.
    context = example(payment_token="tok_declined")  # noqa: S106
    results = {"validate_cart": run_step(WORKFLOW, "validate_cart", context, {})}
    for attempt in (1, 2):
        with pytest.raises(PermanentError) as raised:
            run_step(WORKFLOW, "process_payment", context, results, attempt=attempt)
        assert raised.value.code == "card_declined"
    charge = GatewayCharge.objects.get()
    assert charge.status == "declined"


def test_timeout_after_commit_does_not_charge_twice(seeded) -> None:
    """The gateway charges, the reply is lost; the retry finds that charge."""
    context = example(simulate={"process_payment": ["timeout_after_commit"]})
    results = {"validate_cart": run_step(WORKFLOW, "validate_cart", context, {})}
    with pytest.raises(RetryableError) as raised:
        run_step(WORKFLOW, "process_payment", context, results, attempt=1)
    assert raised.value.code == "gateway_timeout"
    assert GatewayCharge.objects.count() == 1
    retried = run_step(WORKFLOW, "process_payment", context, results, attempt=2)
    assert retried["charged_now"] is False
    assert retried["charge_id"] == GatewayCharge.objects.get().charge_id


def test_timeouts_before_the_call_charge_nothing(seeded) -> None:
    """Two planned timeouts fail attempts 1 and 2 uncharged; attempt 3 charges."""
    context = example(simulate={"process_payment": ["timeout", "timeout"]})
    results = {"validate_cart": run_step(WORKFLOW, "validate_cart", context, {})}
    for attempt in (1, 2):
        with pytest.raises(RetryableError):
            run_step(WORKFLOW, "process_payment", context, results, attempt=attempt)
        assert not GatewayCharge.objects.exists()
    run_step(WORKFLOW, "process_payment", context, results, attempt=3)
    assert GatewayCharge.objects.count() == 1


def test_reserving_twice_with_one_key_takes_stock_once(seeded) -> None:
    """A retried inventory step returns the reservation it already made."""
    context = example(simulate={"update_inventory": ["timeout_after_commit"]})
    results = paid_results(context)
    with pytest.raises(RetryableError):
        run_step(WORKFLOW, "update_inventory", context, results, attempt=1)
    again = run_step(WORKFLOW, "update_inventory", context, results, attempt=2)
    assert again["reserved_now"] is False
    assert StockReservation.objects.count() == 2  # one row per SKU
    assert InventoryItem.objects.get(sku="WIDGET-001").stock == EXAMPLE_STOCK - 2
    assert InventoryItem.objects.get(sku="GADGET-002").stock == EXAMPLE_STOCK - 1


def test_a_reservation_short_on_one_line_takes_no_stock(seeded) -> None:
    """All lines or none: stock that ran out after pricing rolls back the cart."""
    context = example()
    results = paid_results(context)
    InventoryItem.objects.filter(sku="WIDGET-001").update(stock=1)
    with pytest.raises(PermanentError) as raised:
        run_step(WORKFLOW, "update_inventory", context, results)
    assert raised.value.code == "out_of_stock"
    assert not StockReservation.objects.exists()
    assert InventoryItem.objects.get(sku="GADGET-002").stock == EXAMPLE_STOCK
    assert InventoryItem.objects.get(sku="WIDGET-001").stock == 1


def test_order_and_confirmation_are_created_once(seeded) -> None:
    """Retried create_order and send_confirmation return their first rows."""
    context = example()
    results = paid_results(context)
    results["update_inventory"] = run_step(
        WORKFLOW, "update_inventory", context, results
    )
    first = run_step(WORKFLOW, "create_order", context, results, attempt=1)
    second = run_step(WORKFLOW, "create_order", context, results, attempt=2)
    assert first["order_number"] == second["order_number"]
    assert second["created_now"] is False
    assert Order.objects.count() == 1
    results["create_order"] = first
    sent = run_step(WORKFLOW, "send_confirmation", context, results, attempt=1)
    resent = run_step(WORKFLOW, "send_confirmation", context, results, attempt=2)
    assert sent["message_id"] == resent["message_id"]
    assert (sent["sent_now"], resent["sent_now"]) == (True, False)
    assert SentEmail.objects.count() == 1


def test_two_orders_are_two_charges(seeded) -> None:
    """Different tasks have different keys: the same cart is charged per task."""
    run_workflow(WORKFLOW, example(), task_id="t-a")
    run_workflow(WORKFLOW, example(), task_id="t-b")
    assert GatewayCharge.objects.count() == 2
    assert Order.objects.count() == 2
    assert InventoryItem.objects.get(sku="WIDGET-001").stock == EXAMPLE_STOCK - 4
