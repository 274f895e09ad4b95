"""Reference workflows and the simulated external systems they call."""

from django.apps import AppConfig


class ExamplesConfig(AppConfig):
    name = "examples"
    verbose_name = "Simulated external systems"

    def ready(self) -> None:
        from audit.registry import register
        from examples import gdpr

        # The records GDPR export and erasure find by a subject's e-mail.
        gdpr.register()
        from examples.models import (
            Customer,
            GatewayRefund,
            Payment,
            PaymentRefund,
            SupportTicket,
        )

        # Personal data and decisions: field diffs, personal fields masked
        # whole. The data key and the blind indexes are machinery: an index
        # would tell whether two diffs name the same address.
        register(
            Customer,
            mask_fields=("name", "email"),
            exclude_fields=("data_key", "email_index"),
        )
        register(
            SupportTicket,
            mask_fields=("subject", "resolution_note"),
            exclude_fields=("data_key",),
        )
        register(Payment, mask_fields=("description",), exclude_fields=("data_key",))
        register(PaymentRefund)
        register(GatewayRefund)
