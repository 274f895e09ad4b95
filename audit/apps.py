"""Audit app: business audit events beside django-auditlog's field diffs."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from audit import chain, protect, receivers, registry

        registry.register_models()
        chain.connect_signals()
        protect.connect_signals()
        user_login_failed.connect(
            receivers.auth_login_failed, dispatch_uid="audit.auth_login_failed"
        )
