"""Step handlers of ``data_pipeline.customer_analytics`` (blog post 02).

Three extracts run in parallel; each transform waits for the two extracts
it joins; the insights, the dashboard and the notifications follow. Only
the last two change anything outside the warehouse, each once per
idempotency key.
"""

from __future__ import annotations

from typing import Any

from examples.common.faults import inject_fault, inject_fault_after_commit
from examples.common.mailer import email_send
from examples.data_pipeline import metrics
from examples.data_pipeline.dashboard import snapshot_publish
from examples.data_pipeline.warehouse import (
    date_range,
    orders_extract,
    products_extract,
    users_extract,
)
from workflows.handlers import StepContext, StepHandler

DEFAULT_ROW_LIMIT = 10_000
DEFAULT_RECIPIENTS = ("analytics-team@example.com",)


def _row_limit(ctx: StepContext) -> int:
    return int(ctx.handler_config.get("row_limit", DEFAULT_ROW_LIMIT))


class ExtractOrders(StepHandler):
    """Read the order lines of the date range from the warehouse."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        start, end = date_range(ctx.context)
        inject_fault(ctx, system="warehouse")
        orders = orders_extract(start=start, end=end, row_limit=_row_limit(ctx))
        inject_fault_after_commit(ctx, system="warehouse")
        return {"orders": orders, "count": len(orders)}


class ExtractUsers(StepHandler):
    """Read the users who had signed up by the end of the range."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        _, end = date_range(ctx.context)
        inject_fault(ctx, system="warehouse")
        users = users_extract(end=end, row_limit=_row_limit(ctx))
        inject_fault_after_commit(ctx, system="warehouse")
        return {"users": users, "count": len(users)}


class ExtractProducts(StepHandler):
    """Read the product catalogue with prices and costs."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        inject_fault(ctx, system="warehouse")
        products = products_extract(row_limit=_row_limit(ctx))
        inject_fault_after_commit(ctx, system="warehouse")
        return {"products": products, "count": len(products)}


class TransformCustomerMetrics(StepHandler):
    """Join orders with users into customer metrics."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        inject_fault(ctx, system="transform")
        result = metrics.customer_metrics(
            orders=ctx.result_of("extract_orders")["orders"],
            users=ctx.result_of("extract_users")["users"],
            start=ctx.context["start_date"],
            end=ctx.context["end_date"],
        )
        inject_fault_after_commit(ctx, system="transform")
        return result


class TransformProductMetrics(StepHandler):
    """Join orders with products into product metrics."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        inject_fault(ctx, system="transform")
        result = metrics.product_metrics(
            orders=ctx.result_of("extract_orders")["orders"],
            products=ctx.result_of("extract_products")["products"],
        )
        inject_fault_after_commit(ctx, system="transform")
        return result


class GenerateInsights(StepHandler):
    """Combine both metric sets into headline metrics and findings."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        inject_fault(ctx, system="transform")
        result = metrics.insights(
            customers=ctx.result_of("transform_customer_metrics"),
            products=ctx.result_of("transform_product_metrics"),
        )
        inject_fault_after_commit(ctx, system="transform")
        return result


class UpdateDashboard(StepHandler):
    """Publish the headline metrics and findings to the dashboard, once."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        found = ctx.result_of("generate_insights")
        start, end = date_range(ctx.context)
        inject_fault(ctx, system="dashboard")
        publication = snapshot_publish(
            idempotency_key=ctx.idempotency_key,
            dashboard=str(ctx.handler_config.get("dashboard", "customer_analytics")),
            start=start,
            end=end,
            metrics=found["metrics"],
            insights=found["insights"],
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="dashboard")
        snapshot = publication.snapshot
        return {
            "snapshot_id": snapshot.snapshot_id,
            "dashboard": snapshot.dashboard,
            "published_now": publication.published_now,
            "headlines": [insight["message"] for insight in snapshot.insights],
        }


class SendNotifications(StepHandler):
    """E-mail the report's headlines to every recipient, once each."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        dashboard = ctx.result_of("update_dashboard")
        recipients = ctx.context.get("recipients") or list(
            ctx.handler_config.get("default_recipients", DEFAULT_RECIPIENTS)
        )
        period = f"{ctx.context['start_date']} to {ctx.context['end_date']}"
        body = "\n".join(
            [f"Customer analytics for {period}:", ""]
            + [f"- {line}" for line in dashboard["headlines"]]
            + ["", f"Dashboard snapshot: {dashboard['snapshot_id']}"]
        )
        inject_fault(ctx, system="mailer")
        deliveries = [
            email_send(
                idempotency_key=f"{ctx.idempotency_key}:{recipient}",
                to=recipient,
                subject=f"Customer analytics {period}",
                body=body,
                template="analytics_report",
                task_id=ctx.task_id,
            )
            for recipient in dict.fromkeys(recipients)
        ]
        inject_fault_after_commit(ctx, system="mailer")
        return {
            "notified": [delivery.as_result() for delivery in deliveries],
            "sent_now": sum(delivery.sent_now for delivery in deliveries),
        }
