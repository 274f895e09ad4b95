"""Step handlers of ``microservices.user_registration`` (blog post 03).

create_user_account → (setup_billing_profile ∥ initialize_preferences) →
send_welcome_sequence → update_user_status. Each service call carries the
step's idempotency key; the welcome sequence derives one key per message.
"""

from __future__ import annotations

from typing import Any

from examples.common.faults import inject_fault, inject_fault_after_commit
from examples.common.mailer import email_send
from examples.microservices.billing import (
    DEFAULT_MONTHLY_PRICE_CENTS,
    billing_profile_create,
)
from examples.microservices.preferences import (
    DEFAULT_PREFERENCES,
    preferences_initialize,
)
from examples.microservices.user_service import (
    account_activate,
    account_create,
    account_get,
)
from workflows.handlers import StepContext, StepHandler

# Messages per plan, in order; the tips ones honour the product_tips setting.
WELCOME_SEQUENCES = {
    "free": ("welcome", "getting_started_tips"),
    "pro": ("welcome", "getting_started_tips", "pro_features_tips"),
    "enterprise": ("welcome", "enterprise_onboarding"),
}
SUBJECTS = {
    "welcome": "Welcome to Tasker, {name}!",
    "getting_started_tips": "Getting started: your first workflow",
    "pro_features_tips": "Make the most of Tasker Pro",
    "enterprise_onboarding": "Meet your Tasker onboarding team",
}


class CreateUserAccount(StepHandler):
    """Create the pending account in the user service."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        inject_fault(ctx, system="user_service")
        outcome = account_create(
            idempotency_key=ctx.idempotency_key,
            email=ctx.context["email"],
            name=ctx.context["name"],
            plan=ctx.context["plan"],
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="user_service")
        account = outcome.account
        return {
            "user_id": account.user_id,
            "email": account.email,
            "plan": account.plan,
            "status": account.status,
            "created_now": outcome.changed_now,
        }


class SetupBillingProfile(StepHandler):
    """Open the account's billing profile on its plan."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        user = ctx.result_of("create_user_account")
        account = account_get(user_id=user["user_id"])
        inject_fault(ctx, system="billing")
        outcome = billing_profile_create(
            idempotency_key=ctx.idempotency_key,
            account=account,
            plan=user["plan"],
            prices_cents=ctx.handler_config.get(
                "monthly_price_cents", DEFAULT_MONTHLY_PRICE_CENTS
            ),
        )
        inject_fault_after_commit(ctx, system="billing")
        profile = outcome.profile
        return {
            "user_id": account.user_id,
            "plan": profile.plan,
            "monthly_price_cents": profile.monthly_price_cents,
            "billing_required": profile.billing_required,
            "created_now": outcome.created_now,
        }


class InitializePreferences(StepHandler):
    """Store the account's preferences: the defaults, overridden by its choices."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        user = ctx.result_of("create_user_account")
        account = account_get(user_id=user["user_id"])
        inject_fault(ctx, system="preferences")
        outcome = preferences_initialize(
            idempotency_key=ctx.idempotency_key,
            account=account,
            chosen=ctx.context.get("preferences") or {},
            defaults=ctx.handler_config.get("defaults", DEFAULT_PREFERENCES),
        )
        inject_fault_after_commit(ctx, system="preferences")
        return {
            "user_id": account.user_id,
            "settings": outcome.preferences.settings,
            "created_now": outcome.created_now,
        }


class SendWelcomeSequence(StepHandler):
    """Send the plan's welcome messages, each once, honouring the preferences."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        billing = ctx.result_of("setup_billing_profile")
        settings = ctx.result_of("initialize_preferences")["settings"]
        account = account_get(user_id=billing["user_id"])
        templates = [
            template
            for template in WELCOME_SEQUENCES[billing["plan"]]
            if settings.get("product_tips", True) or not template.endswith("_tips")
        ]
        inject_fault(ctx, system="mailer")
        deliveries = [
            email_send(
                idempotency_key=f"{ctx.idempotency_key}:{template}",
                to=account.email,
                subject=SUBJECTS[template].format(name=account.name),
                body=_body(template, account.name, billing),
                template=template,
                task_id=ctx.task_id,
            )
            for template in templates
        ]
        inject_fault_after_commit(ctx, system="mailer")
        return {
            "user_id": account.user_id,
            "messages": [delivery.as_result() for delivery in deliveries],
            "sent_now": sum(delivery.sent_now for delivery in deliveries),
        }


class UpdateUserStatus(StepHandler):
    """Activate the account now that every service has set it up."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        welcome = ctx.result_of("send_welcome_sequence")
        inject_fault(ctx, system="user_service")
        outcome = account_activate(user_id=welcome["user_id"])
        inject_fault_after_commit(ctx, system="user_service")
        account = outcome.account
        return {
            "user_id": account.user_id,
            "status": account.status,
            "activated_at": (
                account.activated_at.isoformat() if account.activated_at else None
            ),
            "activated_now": outcome.changed_now,
        }


def _body(template: str, name: str, billing: dict[str, Any]) -> str:
    price = billing["monthly_price_cents"]
    plan = f"the {billing['plan']} plan"
    if billing["billing_required"]:
        plan += f" at ${price // 100}.{price % 100:02d} a month"
    return f"Hello {name},\n\n[{template}] You are on {plan}.\n"
