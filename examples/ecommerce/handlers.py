"""Step handlers of ``ecommerce.process_order`` (blog post 01).

validate_cart → process_payment → update_inventory → create_order →
send_confirmation. Every call that changes an external system carries the
step's idempotency key, so a retried step never charges, reserves, records
or e-mails twice.

A handler sees only its direct dependencies' results, so in this chain each
step passes forward what later steps need: the priced cart travels with the
payment and the reservation until the order is recorded.
"""

from __future__ import annotations

from typing import Any

from examples.common.faults import inject_fault, inject_fault_after_commit
from examples.common.mailer import email_send
from examples.ecommerce.gateway import DEFAULT_DECLINE_TOKENS, charge_create
from examples.ecommerce.inventory import cart_price, cart_quantities, stock_reserve
from examples.ecommerce.orders import order_create
from workflows.handlers import StepContext, StepHandler


class ValidateCart(StepHandler):
    """Price the cart from the catalogue and refuse one that cannot ship."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        inject_fault(ctx, system="inventory")
        config = ctx.handler_config
        result = cart_price(
            quantities=cart_quantities(ctx.context["cart_items"]),
            tax_rate_bps=int(config.get("tax_rate_bps", 800)),
            shipping_cents=int(config.get("shipping_cents", 599)),
            free_shipping_from_cents=int(
                config.get("free_shipping_from_cents", 10_000)
            ),
        )
        inject_fault_after_commit(ctx, system="inventory")
        return result


class ProcessPayment(StepHandler):
    """Charge the cart total through the payment gateway, once."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        cart = ctx.result_of("validate_cart")
        inject_fault(ctx, system="gateway")
        outcome = charge_create(
            idempotency_key=ctx.idempotency_key,
            amount_cents=cart["total_cents"],
            currency=cart["currency"],
            payment_method=ctx.context["payment_method"],
            payment_token=ctx.context["payment_token"],
            description=f"order of task {ctx.task_id}",
            decline_tokens=ctx.handler_config.get(
                "decline_tokens", DEFAULT_DECLINE_TOKENS
            ),
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="gateway")
        return {**outcome.as_result(), "cart": cart}


class UpdateInventory(StepHandler):
    """Take the cart's quantities from stock, all lines or none."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        payment = ctx.result_of("process_payment")
        cart = payment["cart"]
        inject_fault(ctx, system="inventory")
        reservation = stock_reserve(
            idempotency_key=ctx.idempotency_key,
            quantities={line["sku"]: line["quantity"] for line in cart["lines"]},
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="inventory")
        return {
            **reservation.as_result(),
            "cart": cart,
            "charge_id": payment["charge_id"],
        }


class CreateOrder(StepHandler):
    """Record the paid, reserved order in the order service."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        inventory = ctx.result_of("update_inventory")
        inject_fault(ctx, system="orders")
        outcome = order_create(
            idempotency_key=ctx.idempotency_key,
            customer_email=ctx.context["customer_email"],
            cart=inventory["cart"],
            charge_id=inventory["charge_id"],
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="orders")
        return outcome.as_result()


class SendConfirmation(StepHandler):
    """E-mail the customer their order confirmation, once."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        order = ctx.result_of("create_order")
        email = ctx.context["customer_email"]
        name = ctx.context.get("customer_name") or email
        total = order["total_cents"]
        inject_fault(ctx, system="mailer")
        delivery = email_send(
            idempotency_key=ctx.idempotency_key,
            to=email,
            subject=f"Your order {order['order_number']} is confirmed",
            body=(
                f"Hello {name},\n\nthank you for your order {order['order_number']}. "
                f"We charged ${total // 100}.{total % 100:02d} and will ship it "
                "shortly.\n"
            ),
            template="order_confirmation",
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="mailer")
        return delivery.as_result()
