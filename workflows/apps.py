"""Workflows app: definitions, runs, the engine and its Celery tasks."""

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from workflows.services import gdpr

        # Tasks take part in GDPR export and erasure (audit/gdpr.py).
        gdpr.register()
