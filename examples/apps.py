"""Reference workflows and the simulated external systems they call."""

from django.apps import AppConfig


class ExamplesConfig(AppConfig):
    name = "examples"
    verbose_name = "Simulated external systems"
