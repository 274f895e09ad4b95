"""Reference workflows and the simulated external systems they call."""

from django.apps import AppConfig


class ExamplesConfig(AppConfig):
    name = "examples"
    verbose_name = "Simulated external systems"

    def ready(self) -> None:
        from audit.registry import register
        from examples.models import (
            Customer,
            GatewayRefund,
            Payment,
            PaymentRefund,
            SupportTicket,
        )

        # Personal data and decisions: field diffs, personal fields masked whole.
        register(Customer, mask_fields=("name", "email"))
        register(SupportTicket, mask_fields=("subject", "resolution_note"))
        register(Payment, mask_fields=("description",))
        register(PaymentRefund)
        register(GatewayRefund)
