"""No-op step handlers for benchmarks: the engine's own cost, nothing else."""

from __future__ import annotations

from typing import Any

from workflows.handlers import StepContext, StepHandler

# The refund context's fields that are the order's, not the customer's.
ORDER_FIELDS = frozenset({"order_id", "amount_cents", "currency"})


class Noop(StepHandler):
    """Do nothing and say so."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        return {}


class EchoRefund(StepHandler):
    """Return a refund id and the context's contact fields, as a refund step would.

    With a refund context whose contact fields are personal (``customer_email``,
    ``customer_name``, ``phone``) the engine opens three tokens before the
    step and seals three values after it; with plain contact fields it does
    neither. The bench compares the two.
    """

    def process(self, ctx: StepContext) -> dict[str, Any]:
        contact = {k: v for k, v in ctx.context.items() if k not in ORDER_FIELDS}
        return {"refund_id": f"R-{ctx.context.get('order_id')}", **contact}
