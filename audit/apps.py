"""Audit app: business audit events beside django-auditlog's field diffs."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import registry

        registry.register_models()
