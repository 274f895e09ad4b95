"""Workflows app: definitions, runs, the engine and its Celery tasks."""

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"
